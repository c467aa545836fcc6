//! Many nodes for real: three `tiderun serve` processes (this binary) on one Postgres and one
//! `nats-server -js`, 500 asynchronous Judge0 submissions in four languages spread over them,
//! one node killed with SIGKILL in the middle and started again, the NATS server killed and
//! started again later. Every submission ends with its own right output, none is lost, none
//! is stored twice, and none is run to completion twice — but for a run the killed node
//! finished in the instant before it could store the result. The same suite on one node on
//! SQLite without NATS (the in-process queue), killed and restarted the same way.
//!
//! Executions are counted through a side channel that survives a kill -9: each node's log,
//! where a worker writes `judge0: run completed` when the engine returns and `judge0: result
//! stored` once the store took it (and the live nodes' metrics agree with their logs). After
//! the kill no sandbox process of the killed node remains, and once it is started again no run
//! cgroup of its first life either, nor a mount.
//!
//! Needs root (the full sandbox), Postgres (`TIDERUN_TEST_POSTGRES_URL`, from
//! `scripts/test-postgres`) and `nats-server` (installed by `scripts/test-nats`); this test
//! starts and restarts a NATS server of its own on a free loopback port.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Submissions per suite.
const SUBMISSIONS: usize = 500;
/// Submissions sent at once by the test's client.
const CLIENTS: usize = 12;
/// Workers (and run slots) per node: what one node can have cut short by a kill.
const WORKERS: usize = 2;
/// A short lease: the killed node's runs resume within seconds.
const LEASE_S: u64 = 3;
/// The whole suite, at most (it takes well under a minute when the machine is idle).
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);
/// A node starting on a loaded machine (toolchain detection, warm pools).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the killed node's sandbox processes may take to go.
const ORPHANS_GONE_WITHIN: Duration = Duration::from_secs(10);
/// The log filter of every node: warnings, and the workers' run and store lines.
const LOG_FILTER: &str = "warn,tiderun_server::judge0::worker=info";

const PYTHON: u32 = 71;
const BASH: u32 = 46;
const JAVASCRIPT: u32 = 63;
const C: u32 = 50;

/// One submission and the output it must end with.
struct Case {
    body: Value,
    stdout: String,
}

/// 500 programs: Python, Bash and JavaScript with their own text, C with one source (the build
/// cache compiles it once per node) and its own stdin.
fn cases() -> Vec<Case> {
    (0..SUBMISSIONS)
        .map(|i| match i % 10 {
            0..=3 => Case {
                body: json!({ "language_id": PYTHON, "source_code": format!("print({i} * 7)") }),
                stdout: format!("{}\n", i * 7),
            },
            4..=6 => Case {
                body: json!({ "language_id": BASH, "source_code": format!("echo \"b{i}\"") }),
                stdout: format!("b{i}\n"),
            },
            7 | 8 => Case {
                body: json!({ "language_id": JAVASCRIPT, "source_code": format!("console.log({i} + 0.5)") }),
                stdout: format!("{i}.5\n"),
            },
            _ => Case {
                body: json!({
                    "language_id": C,
                    "source_code": "#include <stdio.h>\nint main(void) { long n; if (scanf(\"%ld\", &n) != 1) return 1; printf(\"%ld\\n\", n * n); return 0; }\n",
                    "stdin": format!("{i}\n"),
                }),
                stdout: format!("{}\n", i * i),
            },
        })
        .collect()
}

/// The run the kill cuts for sure: 15 s of sleep, started with `wait=true` on the node about
/// to be killed (a synchronous run runs where it was asked). Without a supervisor it would
/// sleep on past the orphan check; as it is, it is run again on another node.
fn long_case() -> Case {
    Case {
        body: json!({
            "language_id": PYTHON,
            "source_code": "import time\ntime.sleep(15)\nprint('late')\n",
            "wall_time_limit": 20,
            "command_line_arguments": LONG_MARKER,
        }),
        stdout: "late\n".into(),
    }
}

/// The marker of [`long_case`] in its stored request (its arguments, which it ignores; the
/// source is stored in base64).
const LONG_MARKER: &str = "the-long-run";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A `nats-server -js` of this test's own: loopback, a free port, its store in a temp dir.
struct Nats {
    exe: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Nats {
    fn find() -> Option<PathBuf> {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path)
                    .map(|d| d.join("nats-server"))
                    .find(|p| p.exists())
            })
    }

    fn start(exe: PathBuf) -> Nats {
        let mut nats = Nats {
            exe,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        nats.spawn();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.exe)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("nats.log")).unwrap())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !port_open(self.port) {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then the same server (port, store) again.
    fn restart(&mut self) {
        self.kill();
        std::thread::sleep(Duration::from_millis(500));
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `tiderun serve` process.
struct Node {
    id: String,
    port: u16,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    /// Which life of this node (a log file each).
    life: usize,
}

impl Node {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self, life: usize) -> PathBuf {
        self.dir.join(format!("{}-{life}.log", self.id))
    }

    fn spawn(id: &str, dir: &Path, args: Vec<String>) -> Node {
        let mut node = Node {
            id: id.to_owned(),
            port: free_port(),
            args,
            dir: dir.to_owned(),
            child: None,
            life: 0,
        };
        node.start();
        node
    }

    fn start(&mut self) {
        self.life += 1;
        let child = Command::new(env!("CARGO_BIN_EXE_tiderun"))
            .arg("serve")
            .arg(format!("--addr=127.0.0.1:{}", self.port))
            .arg(format!("--node-id={}", self.id))
            .arg(format!("--workers={WORKERS}"))
            .arg(format!("--max-concurrent={WORKERS}"))
            .arg(format!("--lease-s={LEASE_S}"))
            .args([
                "--rate-limit=0",
                "--max-queue=1000",
                "--max-waiting=1024",
                "--pool-idle-s=5",
            ])
            .args(&self.args)
            .env("TIDERUN_LOG", LOG_FILTER)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log(self.life)).unwrap())
            .spawn()
            .expect("tiderun serve starts");
        self.child = Some(child);
    }

    async fn ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base())).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "node {} exited at start-up ({status}): {}",
                    self.id,
                    std::fs::read_to_string(self.log(self.life)).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "node {} did not start", self.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9; the pid it had.
    fn kill9(&mut self) -> u32 {
        let mut child = self.child.take().expect("running");
        let pid = child.id();
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        pid
    }

    async fn metrics(&self, http: &reqwest::Client) -> String {
        match http.get(format!("{}/metrics", self.base())).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// SIGTERM and wait (the drain).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The sum of a metric's samples whose line contains every `needle`.
fn metric(text: &str, name: &str, needles: &[&str]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Tokens of a node log's lines with `message`.
fn logged(path: &Path, message: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find(message)? + message.len()..];
            let token = rest.split_whitespace().find_map(|f| f.strip_prefix("token="))?;
            Some(token.to_owned())
        })
        .collect()
}

/// Host processes: parent and pid-namespace depth, zombies left out.
fn processes() -> HashMap<u32, (u32, usize)> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        if field("State:").starts_with('Z') {
            continue;
        }
        let Ok(ppid) = field("PPid:").parse() else { continue };
        let depth = field("NSpid:").split_whitespace().count();
        out.insert(pid, (ppid, depth));
    }
    out
}

/// Sandbox processes orphaned by a killed node: they come to this process (a subreaper),
/// the inits as our direct children in a pid namespace below ours, their programs below them.
fn orphans() -> Vec<u32> {
    // SAFETY: reaping our own exited children, without blocking.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    let me = std::process::id();
    let procs = processes();
    let own_depth = procs.get(&me).map_or(1, |p| p.1);
    procs
        .iter()
        .filter(|(_, (ppid, depth))| *ppid == me && *depth > own_depth)
        .map(|(pid, _)| *pid)
        .collect()
}

/// Run cgroup directories of the process `pid`.
fn run_cgroups(pid: u32) -> Vec<String> {
    let prefix = format!("run-{pid}-");
    ["memory", "pids", "cpuacct", "freezer", ""]
        .iter()
        .filter_map(|ctrl| {
            std::fs::read_dir(
                Path::new("/sys/fs/cgroup")
                    .join(ctrl)
                    .join(sandbox::default_cgroup_prefix()),
            )
            .ok()
        })
        .flat_map(|d| d.flatten())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(&prefix)))
        .collect()
}

/// The host's mounts that name the suite's directory.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&dir))
        .map(str::to_owned)
        .collect()
}

/// What the suite does.
enum Setup {
    /// Three nodes, Postgres, NATS: one node killed and restarted, NATS restarted.
    Cluster,
    /// One node on SQLite with the in-process queue, killed and restarted.
    Single,
}

/// Serialize the two suites (each starts several servers on a 2-core machine): an exclusive
/// lock on a file, held until the returned file is dropped.
fn one_suite_at_a_time() -> std::fs::File {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::create(std::env::temp_dir().join("tiderun-nodes-suite.lock")).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    f
}

/// Submit `case` to one of the live nodes, starting with the `i`-th; a node that does not
/// answer (killed) or answers 503 (the queue restarting) is retried, another node first.
async fn submit(
    http: &reqwest::Client,
    bases: &tokio::sync::RwLock<Vec<String>>,
    i: usize,
    case: &Case,
    refused: &std::sync::atomic::AtomicU64,
) -> String {
    let deadline = Instant::now() + SUITE_TIMEOUT;
    let mut attempt = i;
    loop {
        let base = {
            let b = bases.read().await;
            b[attempt % b.len()].clone()
        };
        attempt += 1;
        match http.post(format!("{base}/submissions")).json(&case.body).send().await {
            Ok(r) if r.status().as_u16() == 201 => {
                let v: Value = r.json().await.expect("json");
                return v["token"].as_str().expect("token").to_owned();
            }
            Ok(r) if r.status().as_u16() == 503 => {
                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = r.text().await.unwrap_or_default();
                assert!(body.contains("queue"), "an undocumented 503: {body}");
            }
            Ok(r) => panic!("submission {i}: {} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "submission {i} never accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Finished submissions, through any live node.
async fn finished(http: &reqwest::Client, base: &str, tokens: &[String]) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    for chunk in tokens.chunks(20) {
        let url = format!(
            "{base}/submissions/batch?tokens={}&fields=token,stdout,status,message&base64_encoded=false",
            chunk.join(",")
        );
        let v: Value = match http.get(url).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        for (n, _) in chunk.iter().enumerate() {
            let s = &v["submissions"][n];
            out.push((s["status"]["id"].as_i64().unwrap_or(0) >= 3).then(|| s.clone()));
        }
    }
    out
}

async fn suite(setup: Setup) {
    let _one = one_suite_at_a_time();
    // Orphans of our children (a killed node's sandbox inits) come to us.
    // SAFETY: prctl with valid arguments on this process.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let cluster = matches!(setup, Setup::Cluster);
    let mut nats = None;
    let (db_url, mut nodes) = match setup {
        Setup::Cluster => {
            let admin = std::env::var("TIDERUN_TEST_POSTGRES_URL").unwrap();
            let name = format!("tiderun_nodes_{}", std::process::id());
            let pool = sqlx::PgPool::connect(&admin).await.expect("postgres");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            let n = Nats::start(Nats::find().expect("nats-server"));
            let args = vec![format!("--database-url={url}"), format!("--queue-url={}", n.url())];
            nats = Some(n);
            let nodes: Vec<Node> = ["node-1", "node-2", "node-3"]
                .iter()
                .map(|id| {
                    let mut a = args.clone();
                    a.push(format!("--data-dir={}", dir.path().join(id).display()));
                    Node::spawn(id, dir.path(), a)
                })
                .collect();
            (url, nodes)
        }
        Setup::Single => {
            let data = dir.path().join("data");
            let url = format!("sqlite://{}", data.join("tiderun.db").display());
            let node = Node::spawn("solo", dir.path(), vec![format!("--data-dir={}", data.display())]);
            (url, vec![node])
        }
    };
    for n in &mut nodes {
        n.ready(&http).await;
    }
    let mounts_before = mounts_under(dir.path());
    let cases = Arc::new(cases());
    let bases = Arc::new(tokio::sync::RwLock::new(
        nodes.iter().map(Node::base).collect::<Vec<_>>(),
    ));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // The client: CLIENTS submissions at a time, spread over the live nodes.
    let submitter = {
        let (http, bases, cases, refused) = (http.clone(), bases.clone(), cases.clone(), refused.clone());
        tokio::spawn(async move {
            let limit = Arc::new(tokio::sync::Semaphore::new(CLIENTS));
            let mut all = tokio::task::JoinSet::new();
            for i in 0..cases.len() {
                let permit = limit.clone().acquire_owned().await.unwrap();
                let (http, bases, cases, refused) = (http.clone(), bases.clone(), cases.clone(), refused.clone());
                all.spawn(async move {
                    let token = submit(&http, &bases, i, &cases[i], &refused).await;
                    drop(permit);
                    (i, token)
                });
            }
            let mut tokens = vec![String::new(); cases.len()];
            while let Some(done) = all.join_next().await {
                let (i, token) = done.unwrap();
                tokens[i] = token;
            }
            tokens
        })
    };
    // Progress from the store itself.
    let store = store::Store::connect(&db_url).await.expect("the suite's database");
    let done_count = || async {
        store
            .count_by_status()
            .await
            .map(|c| c.iter().filter(|(s, _)| **s >= 3).map(|(_, n)| *n).sum::<u64>())
            .unwrap_or(0)
    };
    let wait_for = |n: u64| {
        let done_count = &done_count;
        async move {
            while done_count().await < n {
                assert!(started.elapsed() < SUITE_TIMEOUT, "stuck before {n} finished");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    // kill -9 the victim while it runs the long program, once a fifth is done.
    let victim = if cluster { 1 } else { 0 };
    wait_for(100).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db_url).await.expect("database");
    let long = long_case();
    let long_request = tokio::spawn({
        let (http, url, body) = (
            http.clone(),
            format!("{}/submissions?wait=true", nodes[victim].base()),
            long.body.clone(),
        );
        async move { http.post(url).json(&body).send().await.map(|r| r.status()) }
    });
    let long_token = loop {
        let row: Option<(String,)> = sqlx::query_as(&format!(
            "SELECT token FROM submissions WHERE request LIKE '%{LONG_MARKER}%' AND status = 2"
        ))
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some((token,)) = row {
            break token;
        }
        assert!(
            !long_request.is_finished(),
            "the long run was answered at once: {:?}",
            long_request.await
        );
        assert!(started.elapsed() < SUITE_TIMEOUT, "the long run never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // In its sandbox: a second of its fifteen.
    tokio::time::sleep(Duration::from_secs(1)).await;
    {
        let mut b = bases.write().await;
        let gone = nodes[victim].base();
        b.retain(|x| *x != gone);
        if b.is_empty() {
            // One node: the client keeps trying it until it is back.
            b.push(gone);
        }
    }
    let killed_pid = nodes[victim].kill9();
    let killed_life = nodes[victim].life;
    assert!(
        long_request.await.unwrap().is_err(),
        "the killed node's synchronous request ends without an answer"
    );
    // Its sandboxes went with it.
    let deadline = Instant::now() + ORPHANS_GONE_WITHIN;
    loop {
        let left = orphans();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sandbox processes {left:?} outlived the killed node by {ORPHANS_GONE_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Started again (same id, same port): its first life's run cgroups are swept.
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes[victim].start();
    nodes[victim].ready(&http).await;
    {
        let mut b = bases.write().await;
        let back = nodes[victim].base();
        if !b.contains(&back) {
            b.push(back);
        }
    }
    assert_eq!(
        run_cgroups(killed_pid),
        Vec::<String>::new(),
        "run cgroups of the killed node"
    );

    // The NATS server killed and started again, later.
    if let Some(n) = nats.as_mut() {
        wait_for(300).await;
        n.restart();
    }
    let mut tokens = tokio::time::timeout(SUITE_TIMEOUT, submitter)
        .await
        .expect("all submitted")
        .unwrap();
    // The long one too: the kill cut it; another node (or the node's next life) runs it.
    tokens.push(long_token);
    let cases: Vec<&Case> = cases.iter().chain(std::iter::once(&long)).collect();
    // Everything finishes, each with its own output.
    let mut results: Vec<Option<Value>> = vec![None; tokens.len()];
    loop {
        let pending: Vec<usize> = (0..tokens.len()).filter(|&i| results[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let asked: Vec<String> = pending.iter().map(|&i| tokens[i].clone()).collect();
        let base = bases.read().await[0].clone();
        for (&i, got) in pending.iter().zip(finished(&http, &base, &asked).await) {
            results[i] = got;
        }
        assert!(
            started.elapsed() < SUITE_TIMEOUT,
            "{} submissions unfinished after {SUITE_TIMEOUT:?}",
            results.iter().filter(|r| r.is_none()).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().unwrap();
        assert_eq!(
            (r["status"]["id"].as_i64(), r["stdout"].as_str()),
            (Some(3), Some(cases[i].stdout.as_str())),
            "submission {i}: {r}"
        );
    }

    // The store: each submission once, finished; run again only if the kill cut its run.
    let rows: Vec<(String, i32, i32, Option<String>)> =
        sqlx::query_as("SELECT token, status, attempts, lease_owner FROM submissions")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), SUBMISSIONS + 1, "rows");
    let asked: HashSet<&String> = tokens.iter().collect();
    assert!(
        rows.iter().all(|r| asked.contains(&r.0) && r.1 == 3),
        "every row finished, none foreign"
    );
    let retried: Vec<&(String, i32, i32, Option<String>)> = rows.iter().filter(|r| r.2 > 1).collect();
    assert!(
        retried.iter().all(|r| r.2 == 2),
        "a run cut short more than once: {retried:?}"
    );
    assert!(
        retried.len() <= WORKERS + 1,
        "more runs cut short than the killed node ran: {retried:?}"
    );
    assert!(
        retried.iter().any(|r| r.0 == tokens[SUBMISSIONS]),
        "the long run was cut by the kill and run again"
    );

    // The side channel: every node's log, every life.
    let mut completed: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    let mut stored: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    let mut per_life: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for n in &nodes {
        for life in 1..=n.life {
            let c = logged(&n.log(life), "judge0: run completed");
            let s = logged(&n.log(life), "judge0: result stored");
            per_life.insert(format!("{}#{life}", n.id), (c.len(), s.len()));
            for t in c {
                completed.entry(t).or_default().push((n.id.clone(), life));
            }
            for t in s {
                stored.entry(t).or_default().push((n.id.clone(), life));
            }
        }
    }
    let killed = (nodes[victim].id.clone(), killed_life);
    let mut run_twice_by_the_kill = 0;
    for t in &tokens {
        let s = stored.get(t).map_or(0, Vec::len);
        assert!(s <= 1, "{t} stored {s} times: {:?}", stored[t]);
        let c = completed.get(t).cloned().unwrap_or_default();
        match c.len() {
            1 => {}
            // Only the killed node may have finished a run it could not store: died between.
            2 => {
                let on_killed = c.iter().filter(|w| **w == killed).count();
                let stored_by_killed = stored.get(t).is_some_and(|s| s.contains(&killed));
                assert!(
                    on_killed == 1 && !stored_by_killed,
                    "{t} run to completion twice: {c:?}"
                );
                run_twice_by_the_kill += 1;
            }
            // A run the killed node finished and stored but whose log line the kill cut off.
            0 => assert!(!stored.contains_key(t), "{t} stored without a run"),
            n => panic!("{t} run to completion {n} times: {c:?}"),
        }
    }
    assert!(run_twice_by_the_kill <= WORKERS + 1);
    let completions: usize = completed.values().map(Vec::len).sum();
    // The live nodes' metrics count what their logs say.
    let mut metrics_line = Vec::new();
    for n in &nodes {
        let m = n.metrics(&http).await;
        let (c, s) = per_life[&format!("{}#{}", n.id, n.life)];
        let runs = metric(&m, "faas_invocations_total", &["trigger=\"judge0\""]);
        let stored_m = metric(&m, "tiderun_queue_deliveries_total", &["outcome=\"stored\""]);
        assert_eq!((runs as usize, stored_m as usize), (c, s), "{}'s metrics and log", n.id);
        assert!(m.contains(&format!("tiderun_node_info{{node=\"{}\"}} 1", n.id)));
        metrics_line.push(format!(
            "{}: {} duplicate deliveries dropped",
            n.id,
            metric(&m, "tiderun_queue_deliveries_total", &["outcome=\"duplicate\""])
        ));
    }
    for n in &mut nodes {
        n.stop();
    }
    assert_eq!(
        orphans(),
        Vec::<u32>::new(),
        "sandbox processes after the nodes stopped"
    );
    assert_eq!(mounts_under(dir.path()), mounts_before, "mounts left");
    println!(
        "{} in {:.0?}: {SUBMISSIONS} submissions and a long synchronous one, all finished right; runs completed {completions} \
         (by node and life, runs/stored: {per_life:?}); cut short by the kill and run again: {}; \
         finished by the killed node but not stored, so run again: {run_twice_by_the_kill}; \
         submissions refused with 503 while NATS restarted and sent again: {}; {}",
        if cluster { "3 nodes, Postgres, NATS" } else { "1 node, SQLite, in-process queue" },
        started.elapsed(),
        retried.len(),
        refused.load(std::sync::atomic::Ordering::Relaxed),
        metrics_line.join("; ")
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn three_nodes_on_postgres_and_nats_survive_a_kill_and_a_nats_restart() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    if std::env::var_os("TIDERUN_TEST_POSTGRES_URL").is_none() {
        testkit::skip("TIDERUN_TEST_POSTGRES_URL is not set (scripts/test-postgres starts a server)");
        return;
    }
    if Nats::find().is_none() {
        testkit::skip("no nats-server (scripts/test-nats installs it)");
        return;
    }
    suite(Setup::Cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn one_node_without_nats_survives_a_kill() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    suite(Setup::Single).await;
}
