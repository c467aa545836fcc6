//! The Python class through the native API of a real server: a matplotlib plot (`plt.show()`
//! and `plt.savefig`) and a turtle square come back as images in `run.files`, numpy and pandas
//! import and compute, and a program cannot change the support files (the headless turtle, the
//! plot backend) that the next run imports — cold, with zygotes and with fork servers.

extern crate tiderun_server as server;

mod common;

use base64::Engine as _;
use common::{Backend, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;

const SHOW: &str =
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()\n\
                    plt.figure()\nplt.bar(['a', 'b'], [3, 5])\nplt.show()\nprint('shown')\n";
const SAVEFIG: &str =
    "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.savefig('plot.png')\nprint('saved')\n";
const SQUARE: &str =
    "import turtle\nt = turtle.Turtle()\nfor _ in range(4):\n    t.forward(100)\n    t.left(90)\nturtle.done()\n";
const NUMBERS: &str = "import numpy as np\nimport pandas as pd\n\
                       a = np.arange(12).reshape(3, 4)\nprint(int(a.sum()), a.shape)\n\
                       df = pd.DataFrame({'x': [1, 2, 3], 'y': [2.0, 4.0, 8.0]})\nprint(df['y'].mean(), len(df))\n";
/// Finds the support directory through the turtle it imports, and tries to change it every
/// way a program could: write a file, replace the turtle, rename it, chmod the directory.
const TAMPER: &str = r#"
import os, turtle
d = os.path.dirname(turtle.__file__)
print('support', d != os.getcwd())
def attempt(name, f):
    try:
        f()
        print(name, 'DONE')
    except OSError as e:
        print(name, 'refused')
attempt('create', lambda: open(os.path.join(d, 'evil.py'), 'w').write('x'))
attempt('overwrite', lambda: open(turtle.__file__, 'w').write('raise SystemExit(3)'))
attempt('rename', lambda: os.rename(turtle.__file__, os.path.join(d, 'old.py')))
attempt('unlink', lambda: os.unlink(turtle.__file__))
attempt('chmod', lambda: os.chmod(d, 0o777))
attempt('chmod file', lambda: os.chmod(turtle.__file__, 0o666))
"#;

async fn python(server: &TestServer, code: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/run", server.base))
        .json(&json!({"language": "python", "code": code}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// The run's images by name: (mime, bytes).
fn images(body: &Value) -> Vec<(String, String, Vec<u8>)> {
    body["run"]["files"]
        .as_array()
        .unwrap_or_else(|| panic!("run.files is an array: {body}"))
        .iter()
        .map(|f| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f["content_base64"].as_str().unwrap_or_else(|| panic!("content: {f}")))
                .expect("base64");
            assert_eq!(f["size"], bytes.len(), "{f}");
            (
                f["name"].as_str().expect("name").to_owned(),
                f["mime"].as_str().expect("mime").to_owned(),
                bytes,
            )
        })
        .collect()
}

/// A PNG's width and height from its IHDR, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

async fn the_python_class(server: &TestServer, path: &str) {
    let body = python(server, SHOW).await;
    assert_eq!(
        (&body["status"], &body["run"]["stdout"]),
        (&json!("ok"), &json!("shown\n")),
        "{path}: {body}"
    );
    assert_eq!(body["run"]["stderr"], "", "{path}: nothing on stderr: {body}");
    let shown = images(&body);
    let mut names: Vec<&str> = shown.iter().map(|(n, _, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["figure-2.png", "figure.png"],
        "{path}: one PNG per figure shown"
    );
    for (name, mime, bytes) in &shown {
        assert_eq!(mime, "image/png", "{path}: {name}");
        // matplotlib's default figure: 6.4 × 4.8 in at 100 dpi.
        assert_eq!(png_size(bytes), (640, 480), "{path}: {name}");
        assert!(
            bytes.len() > 3_000,
            "{path}: {name} holds a plot: {} bytes",
            bytes.len()
        );
    }

    let body = python(server, SAVEFIG).await;
    assert_eq!(body["status"], "ok", "{path}: {body}");
    let saved = images(&body);
    assert_eq!(saved.len(), 1, "{path}: {body}");
    assert_eq!(
        (saved[0].0.as_str(), saved[0].1.as_str()),
        ("plot.png", "image/png"),
        "{path}"
    );
    assert_eq!(png_size(&saved[0].2), (640, 480), "{path}");

    let body = python(server, SQUARE).await;
    assert_eq!(body["status"], "ok", "{path}: {body}");
    let drawn = images(&body);
    assert_eq!(drawn.len(), 1, "{path}: {body}");
    let (name, mime, svg) = &drawn[0];
    assert_eq!(
        (name.as_str(), mime.as_str()),
        ("turtle.svg", "image/svg+xml"),
        "{path}"
    );
    let svg = String::from_utf8(svg.clone()).expect("UTF-8");
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{path}: {svg}"
    );
    assert_eq!(svg.matches("<line ").count(), 4, "{path}: four sides: {svg}");
    for corner in [
        "x2=\"100\" y2=\"0\"",
        "x2=\"100\" y2=\"-100\"",
        "x2=\"0\" y2=\"-100\"",
        "x2=\"0\" y2=\"0\"",
    ] {
        assert!(svg.contains(corner), "{path}: {corner} in {svg}");
    }

    let body = python(server, NUMBERS).await;
    assert_eq!(body["status"], "ok", "{path}: {body}");
    assert_eq!(
        body["run"]["stdout"], "66 (3, 4)\n4.666666666666667 3\n",
        "{path}: {body}"
    );

    let body = python(server, TAMPER).await;
    assert_eq!(body["status"], "ok", "{path}: {body}");
    assert_eq!(
        body["run"]["stdout"],
        "support True\ncreate refused\noverwrite refused\nrename refused\nunlink refused\nchmod refused\nchmod file refused\n",
        "{path}: {body}"
    );
    let after = python(server, SQUARE).await;
    assert_eq!(images(&after), drawn, "{path}: the next run's turtle is untouched");
}

async fn server_with(pools: engine::PoolConfig) -> TestServer {
    let runner = common::runner_with_pools(engine::RunnerConfig::default(), pools);
    common::start_with_runner(ServerConfig::default(), runner, Backend::Sqlite).await
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn plots_turtles_and_numbers_cold() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = server_with(engine::PoolConfig::disabled()).await;
    the_python_class(&server, "cold").await;
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn plots_turtles_and_numbers_in_zygotes() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = server_with(engine::PoolConfig {
        forks: engine::ForkConfig::off(),
        ..engine::PoolConfig::default()
    })
    .await;
    the_python_class(&server, "zygotes").await;
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn plots_turtles_and_numbers_in_fork_servers() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let pools = engine::PoolConfig::default();
    assert!(pools.forks.servers > 0, "fork servers are on by default");
    let server = server_with(pools).await;
    the_python_class(&server, "fork servers").await;
    server.stop().await;
}
