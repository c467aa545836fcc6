//! Slow clients on raw sockets: headers trickled a byte a second (slowloris), a body trickled
//! after complete headers, a connection that never sends a byte, and a WebSocket reader that
//! stops reading while its program floods output. Each holds its connection until the server
//! ends it or the soak gives up; what happened is counted. Only an undocumented 5xx is a
//! violation here: how long a server keeps such clients is its policy (reported, not judged).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::tally::{Event, Tally};

/// Longest a slow client holds on before giving up (the server has not ended it by then).
const HOLD: Duration = Duration::from_secs(40);
/// How a slow client ends when the server never does.
const STILL_OPEN: &str = "still open when the soak gave up";
/// A trickled byte every this long.
const TRICKLE_EVERY: Duration = Duration::from_secs(1);
/// The body the slow-body client announces (and never finishes).
const ANNOUNCED_BODY_BYTES: usize = 100_000;
/// How long the stalled WebSocket reader stops reading.
const WS_STALL: Duration = Duration::from_secs(20);
/// After it reads again, how long it waits for the session's end.
const WS_DRAIN: Duration = Duration::from_secs(30);

/// The kinds of slow client.
#[derive(Debug, Clone, Copy)]
pub enum Slow {
    /// Headers a byte a second, never finished.
    Headers,
    /// Complete headers, the body 16 bytes a second.
    Body,
    /// Connects and says nothing.
    Idle,
    /// A WebSocket session whose reader stops.
    StalledReader,
}

impl Slow {
    fn name(self) -> &'static str {
        match self {
            Slow::Headers => "trickled headers",
            Slow::Body => "trickled body",
            Slow::Idle => "idle connection",
            Slow::StalledReader => "stalled WebSocket reader",
        }
    }
}

/// `kind` over and over until the deadline.
pub async fn slow(addr: &str, ws_base: &str, kind: Slow, tally: &Tally, deadline: Instant) {
    while Instant::now() < deadline {
        let started = Instant::now();
        let until = (started + HOLD).min(deadline);
        let (status, problem) = match kind {
            Slow::StalledReader => stalled_reader(ws_base, deadline).await,
            _ => raw(addr, kind, until).await,
        };
        let took = started.elapsed();
        if status == STILL_OPEN && took >= HOLD {
            tally.find("slow", format!("{}: the server kept it open for {HOLD:?}", kind.name()));
        }
        tally.add(
            "slow",
            Event {
                status: status.clone(),
                took,
                outcome: Some(format!("{}: {status}", kind.name())),
                problem,
            },
        );
        if Instant::now() < deadline {
            // A pause between attempts, so a refused connection does not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One raw-socket slow client: how it ended, and a problem if the server answered 5xx.
async fn raw(addr: &str, kind: Slow, until: Instant) -> (String, Option<String>) {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            return (
                "connection error".into(),
                Some(format!("{}: connect: {e}", kind.name())),
            )
        }
    };
    let opening = match kind {
        Slow::Headers => "GET /healthz HTTP/1.1\r\nHost: soak\r\nX-Soak: ".to_owned(),
        Slow::Body => format!(
            "POST /api/v1/run HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: {ANNOUNCED_BODY_BYTES}\r\n\r\n"
        ),
        _ => String::new(),
    };
    if stream.write_all(opening.as_bytes()).await.is_err() {
        return ("closed by server".into(), None);
    }
    let (mut rd, mut wr) = stream.into_split();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut next_trickle = tokio::time::Instant::now() + TRICKLE_EVERY;
    let until = tokio::time::Instant::from_std(until);
    let ended = loop {
        tokio::select! {
            n = rd.read(&mut buf) => match n {
                Ok(0) | Err(_) => break true,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep_until(next_trickle), if !matches!(kind, Slow::Idle) => {
                let piece: &[u8] = if matches!(kind, Slow::Body) { b"[[[[[[[[[[[[[[[[" } else { b"x" };
                if wr.write_all(piece).await.is_err() {
                    break true;
                }
                next_trickle += TRICKLE_EVERY;
            }
            _ = tokio::time::sleep_until(until) => break false,
        }
    };
    let status = http_status(&answer);
    let problem = status.filter(|s| *s >= 500).map(|s| {
        format!(
            "{}: HTTP {s}: {}",
            kind.name(),
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        )
    });
    let text = match (status, ended) {
        (Some(s), _) => format!("answered HTTP {s}"),
        (None, true) => "closed by server".into(),
        (None, false) => STILL_OPEN.into(),
    };
    (text, problem)
}

/// The status code of a raw HTTP/1.1 answer.
fn http_status(answer: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(&answer[..answer.len().min(32)]).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A session flooding output to a client that stops reading for [`WS_STALL`], then reads on.
async fn stalled_reader(ws_base: &str, deadline: Instant) -> (String, Option<String>) {
    let url = format!("{ws_base}/api/v1/ws");
    let mut ws = match tokio_tungstenite::connect_async(&url).await {
        Ok((ws, _)) => ws,
        Err(e) => return ("connection error".into(), Some(format!("stalled reader: connect: {e}"))),
    };
    let code = "import sys\nb = 'x' * 65536\nwhile True:\n    sys.stdout.write(b)\n";
    let init = json!({"type": "init", "language": "python", "code": code});
    if ws.send(Message::text(init.to_string())).await.is_err() {
        return ("closed by server".into(), None);
    }
    let stall_end = (Instant::now() + WS_STALL).min(deadline);
    tokio::time::sleep_until(tokio::time::Instant::from_std(stall_end)).await;
    let mut exit = None;
    let drained = tokio::time::timeout(WS_DRAIN, async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Text(t)) if t.contains("\"exit\"") => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                    exit = v["status"].as_str().map(str::to_owned);
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    let text = match (drained.is_ok(), exit) {
        (true, Some(status)) => format!("ended with {status}"),
        (true, None) => "closed without an exit".into(),
        (false, _) => "still sending when the soak gave up".into(),
    };
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_statuses_are_read() {
        assert_eq!(http_status(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(http_status(b"HTTP/1.1 5"), None);
        assert_eq!(http_status(b""), None);
    }
}
