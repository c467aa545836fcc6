//! The harness's HTTP side: one keep-alive HTTP/1.1 client (it shares the machine's cores with
//! the server, so it stays cheap: bodies prepared once, replies parsed only as far as needed).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

/// A client request that takes longer than this is counted as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// What one `POST /api/v1/run` gave.
#[derive(Debug, Clone)]
pub struct Reply {
    /// From just before the request was sent to the last byte of the answer.
    pub took: Duration,
    /// `None` when the run was a success (HTTP 200 and `status: ok`); else what went wrong.
    pub error: Option<String>,
    pub stdout: String,
    /// The compile stage was answered by the build cache.
    pub cached: bool,
}

impl Reply {
    fn failed(took: Duration, error: String) -> Reply {
        Reply {
            took,
            error: Some(error),
            stdout: String::new(),
            cached: false,
        }
    }
}

/// A language as the server describes it.
#[derive(Debug, Clone)]
pub struct Language {
    pub name: String,
    pub installed: bool,
    pub compiled: bool,
    pub file: String,
    pub hello: String,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Client {
            http,
            base: base.to_string(),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The body of a run request for `code` in `language`, made once and reused.
    pub fn run_body(language: &str, code: &str) -> String {
        serde_json::json!({ "language": language, "code": code }).to_string()
    }

    /// `POST /api/v1/run` with a prepared body.
    pub async fn run(&self, body: &str) -> Reply {
        let (took, answer) = self.post_json("/api/v1/run", body).await;
        let (status, v) = match answer {
            Ok(a) => a,
            Err(error) => return Reply::failed(took, error),
        };
        if !status.is_success() {
            return Reply::failed(took, format!("HTTP {status}: {}", v["error"].as_str().unwrap_or("?")));
        }
        let run_status = v["status"].as_str().unwrap_or("?");
        Reply {
            took,
            error: (run_status != "ok").then(|| format!("status {run_status}")),
            stdout: v["run"]["stdout"].as_str().unwrap_or_default().to_string(),
            cached: v["compile"]["cached"].as_bool().unwrap_or(false),
        }
    }

    /// `POST /submissions?base64_encoded=false&wait=true` with a prepared body (Judge0's API):
    /// a success is HTTP 201 with status 3 (Accepted).
    pub async fn judge0_wait(&self, body: &str) -> Reply {
        let (took, answer) = self
            .post_json("/submissions?base64_encoded=false&wait=true", body)
            .await;
        let (status, v) = match answer {
            Ok(a) => a,
            Err(error) => return Reply::failed(took, error),
        };
        if status.as_u16() != 201 {
            return Reply::failed(took, format!("HTTP {status}: {}", v["error"].as_str().unwrap_or("?")));
        }
        let judge0_status = v["status"]["id"].as_u64().unwrap_or(0);
        Reply {
            took,
            error: (judge0_status != 3).then(|| format!("Judge0 status {judge0_status}")),
            stdout: v["stdout"].as_str().unwrap_or_default().to_string(),
            cached: false,
        }
    }

    /// POST a prepared JSON body to `path`: the time from just before sending to the last byte
    /// of the answer, and the answer's status and JSON (or what went wrong).
    async fn post_json(&self, path: &str, body: &str) -> (Duration, Result<(reqwest::StatusCode, Value), String>) {
        let started = Instant::now();
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let answer = match sent {
            Ok(r) => {
                let status = r.status();
                r.bytes().await.map(|b| (status, b))
            }
            Err(e) => Err(e),
        };
        let took = started.elapsed();
        let answer = match answer {
            Ok((status, bytes)) => serde_json::from_slice::<Value>(&bytes)
                .map(|v| (status, v))
                .map_err(|_| format!("HTTP {status}: not JSON")),
            Err(e) => Err(format!("request failed: {}", root_cause(&e))),
        };
        (took, answer)
    }

    /// The body of a Judge0 submission of `code` in language `id`, naming no limit.
    pub fn judge0_body(id: u64, code: &str) -> String {
        serde_json::json!({ "language_id": id, "source_code": code }).to_string()
    }

    /// `GET /api/v1/runtimes`.
    pub async fn languages(&self) -> anyhow::Result<Vec<Language>> {
        let bytes = self
            .http
            .get(format!("{}/api/v1/runtimes", self.base))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let v: Value = serde_json::from_slice(&bytes).context("GET /api/v1/runtimes: not JSON")?;
        let list = v.as_array().context("GET /api/v1/runtimes: not a list")?;
        Ok(list
            .iter()
            .map(|r| Language {
                name: r["language"].as_str().unwrap_or_default().to_string(),
                installed: r["installed"].as_bool().unwrap_or(false),
                compiled: r["compiled"].as_bool().unwrap_or(false),
                file: r["file"].as_str().unwrap_or_default().to_string(),
                hello: r["example"]["hello"].as_str().unwrap_or_default().to_string(),
            })
            .collect())
    }

    /// The sum of every sample of an unlabelled or labelled metric, `None` when the server
    /// does not export it.
    pub async fn metric_sum(&self, name: &str) -> anyhow::Result<Option<f64>> {
        self.metric_sum_with(name, &[]).await
    }

    /// [`Client::metric_sum`] over the samples that carry every one of `labels`
    /// (`start="warm"`).
    pub async fn metric_sum_with(&self, name: &str, labels: &[&str]) -> anyhow::Result<Option<f64>> {
        Ok(metric_sum_with(&self.metrics().await?, name, labels))
    }

    /// [`pooled_but_fork_servers`] of the server's `/metrics`.
    pub async fn pooled_but_fork_servers(&self) -> anyhow::Result<Option<f64>> {
        Ok(pooled_but_fork_servers(&self.metrics().await?))
    }

    async fn metrics(&self) -> anyhow::Result<String> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(text)
    }
}

/// The gauge of warm instances.
pub const POOL_GAUGE: &str = "tiderun_pool_instances";

/// The warm instances in Prometheus text but fork servers, which an idle server keeps at
/// `--fork-servers-min` by design: [`POOL_GAUGE`] less its `kind="fork_server"` samples.
pub fn pooled_but_fork_servers(text: &str) -> Option<f64> {
    let forks = metric_sum_with(text, POOL_GAUGE, &[r#"kind="fork_server""#]).unwrap_or(0.0);
    metric_sum(text, POOL_GAUGE).map(|all| all - forks)
}

/// Sum of the samples of `name` in Prometheus text (`name 3`, `name{a="b"} 4`).
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    metric_sum_with(text, name, &[])
}

/// Sum of the samples of `name` whose labels include each of `labels` (`key="value"`).
pub fn metric_sum_with(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = match rest.chars().next() {
            Some(' ') if labels.is_empty() => rest,
            Some('{') => match rest.split_once('}') {
                Some((set, v)) if labels.iter().all(|l| set[1..].split(',').any(|kv| kv == *l)) => v,
                _ => continue,
            },
            _ => continue,
        };
        if let Ok(v) = value.trim().parse::<f64>() {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// The innermost cause of a request error (connection refused, reset...).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_samples_are_summed_across_labels() {
        let text = "# HELP tiderun_pool_instances x\n# TYPE tiderun_pool_instances gauge\n\
                    tiderun_pool_instances{kind=\"zygote\",runtime=\"python\"} 2\n\
                    tiderun_pool_instances{kind=\"sandbox\",runtime=\"c\"} 3\n\
                    tiderun_pool_instances_other 7\nup 1\n";
        assert_eq!(metric_sum(text, "tiderun_pool_instances"), Some(5.0));
        assert_eq!(metric_sum(text, "up"), Some(1.0));
        assert_eq!(metric_sum(text, "absent"), None);
        let starts = "tiderun_starts_total{phase=\"run\",runtime=\"python\",start=\"warm\"} 9\n\
                      tiderun_starts_total{phase=\"run\",runtime=\"python\",start=\"cold\"} 2\n\
                      tiderun_starts_total{phase=\"run\",runtime=\"c\",start=\"warm\"} 4\n";
        let warm = metric_sum_with(
            starts,
            "tiderun_starts_total",
            &["runtime=\"python\"", "start=\"warm\""],
        );
        assert_eq!(warm, Some(9.0));
        assert_eq!(
            metric_sum_with(starts, "tiderun_starts_total", &["start=\"warm\""]),
            Some(13.0)
        );
        assert_eq!(
            metric_sum_with(starts, "tiderun_starts_total", &["start=\"none\""]),
            None
        );
    }

    #[test]
    fn fork_servers_kept_idle_are_not_counted_as_pooled() {
        let text = "tiderun_pool_instances{kind=\"fork_server\",phase=\"run\",runtime=\"python\"} 1\n\
                    tiderun_pool_instances{kind=\"fork_server\",phase=\"run\",runtime=\"perl\"} 1\n\
                    tiderun_pool_instances{kind=\"zygote\",phase=\"run\",runtime=\"javascript\"} 0\n";
        assert_eq!(pooled_but_fork_servers(text), Some(0.0));
        let more = format!("{text}tiderun_pool_instances{{kind=\"prepared\",phase=\"run\",runtime=\"c\"}} 2\n");
        assert_eq!(pooled_but_fork_servers(&more), Some(2.0));
        assert_eq!(pooled_but_fork_servers("up 1\n"), None);
    }
}
