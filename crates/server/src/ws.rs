//! Interactive runs over WebSocket: one bridge between an engine session and a socket, with
//! two vocabularies — Piston's on `/api/v2/connect`, the native API's on `/api/v1/ws`.
//!
//! Both: client → server `init` (it must come within [`INIT_TIMEOUT`]), `data` `{stream:
//! "stdin", data}`, `signal` `{signal: "SIGTERM"}`; server → client `runtime` `{language,
//! version}`, `stage` `{stage}`, `data` `{stream, data}`, `exit` (a stage ended), `error`
//! `{message}`. Close codes as Piston's: 4000 already initialised, 4001 no init in time, 4002 an
//! error was notified, 4003 not initialised, 4004 can only write to stdin, 4005 invalid signal,
//! 4999 job completed.
//!
//! - Piston (`/api/v2/connect`): `init` has the fields of Piston's execute (`run_timeout`,
//!   `compile_memory_limit`...; its `stdin` is ignored, as in Piston); `exit` is `{stage, code,
//!   signal: "SIGKILL", status: "TO"|"SG"|..., message}`; errors in Piston's words; unknown
//!   message types are ignored, as Piston does.
//! - Native (`/api/v1/ws`): `init` has the fields of `POST /api/v1/run` but `stdin` and
//!   `tests` (`code` or `files`, `args`, `limits.wall_ms`, `cpu_ms`, `memory_mb`...;
//!   [`crate::native::SessionRequest`]); `exit` is a stage of the run response without its
//!   output (`{stage, status: "time_limit"|..., exit_code, signal: 9, cpu_time_ms, wall_time_ms,
//!   memory_kb, message, cached?, files?}`, [`crate::native::StageEnd`]); errors in the native
//!   API's words; plus `eof` (close the program's stdin) and `kill`; an unknown message type is
//!   an error.
//!
//! Output is forwarded as the engine produces it (decoded as UTF-8 without splitting a
//! character across messages) and is capped by the run's output limit; output a slow client
//! has not taken waits in the session (never the run: its limits hold whatever the client
//! does); stdin is written as it arrives; signals reach the program's process group without
//! this task ever waiting (a flood of one signal is delivered once, so a flood costs nothing);
//! a client that goes away takes its program with it (dropping the session kills it). Unlike
//! Piston's own, signals work and output is bounded.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use engine::{EngineError, Event, Job, Phase, Session, StageOutcome};
use sandbox::StreamKind;
use serde::{Deserialize, Serialize};

use crate::native::{SessionRequest, StageEnd};
use crate::piston::wire::PistonStatus;
use crate::piston::{signal, ExecuteRequest, PistonError, PistonJob, StageResult};
use crate::{ApiError, AppState, Caller};

/// Piston closes a socket that has not sent `init` within a second.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(1);
/// Most bytes of stdin in one `data` message: a large paste fits, a client cannot make the
/// server hold megabytes per message.
pub const MAX_STDIN_MESSAGE_BYTES: usize = 64 << 10;
/// Stdin received but not yet taken by the program; past this the client is told the program
/// is not reading, and the session ends.
pub const MAX_PENDING_STDIN_BYTES: usize = 1 << 20;
/// Stdin is written in pieces of at most PIPE_BUF (4096 bytes on Linux): such a write to a
/// pipe is atomic, all or nothing, so an attempt can be abandoned without losing bytes.
const STDIN_CHUNK_BYTES: usize = 4096;
/// While stdin waits for the program, events are still forwarded at least this often.
const STDIN_WAIT_SLICE: Duration = Duration::from_millis(10);
/// Events forwarded in one turn of the loop before the client's messages are looked at again.
const MAX_EVENTS_PER_TURN: usize = 64;
/// A client that takes longer than this to accept one message is treated as gone (its
/// program stops instead of waiting on a stalled socket).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// After sending a close frame, how long to wait for the client's reply.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Piston's close codes.
mod close {
    pub const ALREADY_INITIALISED: u16 = 4000;
    pub const INIT_TIMEOUT: u16 = 4001;
    pub const NOTIFIED_ERROR: u16 = 4002;
    pub const NOT_INITIALISED: u16 = 4003;
    pub const STDIN_ONLY: u16 = 4004;
    pub const INVALID_SIGNAL: u16 = 4005;
    pub const JOB_COMPLETED: u16 = 4999;
}

/// Which API a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vocabulary {
    /// `/api/v2/connect`: Piston's messages, Piston's stage statuses (`TO`, `RE`...), a
    /// required `version`; unknown message types are ignored, as Piston does.
    Piston,
    /// `/api/v1/ws`: the native API's `init` (`limits.wall_ms`...), statuses (`time_limit`...)
    /// and error wording, plus `eof` and `kill`; an unknown message type is an error.
    Native,
}

impl Vocabulary {
    /// The socket's name for the runner's observers (the metrics' `trigger` label).
    fn trigger(self) -> &'static str {
        match self {
            Vocabulary::Piston => "piston_ws",
            Vocabulary::Native => "native_ws",
        }
    }
}

/// `GET /api/v1/ws`.
pub async fn native(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(ws, state, caller, Vocabulary::Native),
        Err(rejection) => ApiError::BadRequest(rejection.body_text()).into_response(),
    }
}

/// `GET /api/v2/connect`.
pub async fn piston(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(ws, state, caller, Vocabulary::Piston),
        Err(rejection) => PistonError(ApiError::BadRequest(rejection.body_text())).into_response(),
    }
}

fn upgrade(ws: WebSocketUpgrade, state: AppState, caller: Caller, vocabulary: Vocabulary) -> Response {
    // `init` carries the source files: it may be as large as an execute request's body.
    let max = state.config().max_body_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        // A browser's page carries its token in a second subprotocol (`tiderun.auth.TOKEN`,
        // read by `auth::guard`); the answer names only this one, never the token.
        .protocols([crate::WS_PROTOCOL])
        .on_upgrade(move |socket| async move { Bridge::new(socket, state, caller, vocabulary).run().await })
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ServerMessage {
    Runtime {
        language: String,
        version: String,
    },
    Stage {
        stage: &'static str,
    },
    Data {
        stream: &'static str,
        data: String,
    },
    /// Native only: the program waits for input that was not sent (`waiting: true`) or goes
    /// on (`false`), with the run's budget of waiting (all waits together) and what is left.
    Waiting {
        waiting: bool,
        input_wait_ms: u64,
        input_wait_left_ms: u64,
    },
    Exit(Exit),
    Error {
        message: String,
    },
}

/// A stage ended, in a vocabulary's words.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Exit {
    Piston(PistonExit),
    Native(StageEnd),
}

/// Piston's `exit`.
#[derive(Debug, Serialize)]
struct PistonExit {
    stage: &'static str,
    code: Option<i32>,
    signal: Option<String>,
    status: Option<String>,
    message: Option<String>,
}

/// How a vocabulary words an engine error that ends a socket before its session starts.
enum Words {
    /// Piston's words, which name the runtime as it was asked for.
    Piston { language: String, version: String },
    /// The native API's words (`POST /api/v1/run` answers the same).
    Native,
}

impl Words {
    fn say(&self, e: EngineError) -> End {
        match self {
            Words::Piston { language, version } => notify(PistonError::from_engine(e, language, version).0.message()),
            Words::Native => notify(ApiError::from(e).message()),
        }
    }
}

/// The kind of a client message; its other fields are read once the kind is allowed.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Init,
    Data,
    Signal,
    Eof,
    Kill,
    Other(String),
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct DataMessage {
    stream: Option<String>,
    data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SignalMessage {
    signal: Option<serde_json::Value>,
}

/// Why a connection ends.
enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// Send an `error` message, then close with 4002.
    Notify(String),
    /// The client is gone (errored, or too slow): nothing more to send.
    Gone,
    /// The client sent a close frame: the reply it waits for (queued when its frame was
    /// read) is sent, and nothing else.
    ClientClosed,
}

fn notify(message: impl Into<String>) -> End {
    End::Notify(message.into())
}

/// Parse a message's text: its kind (and the whole text, for the fields).
fn classify(text: &str) -> Result<Kind, End> {
    let envelope: Envelope = parse(text)?;
    Ok(match envelope.kind {
        Some(serde_json::Value::String(kind)) => match kind.as_str() {
            "init" => Kind::Init,
            "data" => Kind::Data,
            "signal" => Kind::Signal,
            "eof" => Kind::Eof,
            "kill" => Kind::Kill,
            _ => Kind::Other(kind),
        },
        Some(other) => Kind::Other(other.to_string()),
        None => Kind::Other(String::new()),
    })
}

/// A message's fields, with an error that says which field is wrong.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, End> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            notify(format!("invalid message: {inner}"))
        } else {
            notify(format!("invalid message at {path}: {inner}"))
        }
    })
}

/// Stdin waiting for the program.
#[derive(Debug, Default)]
struct PendingStdin {
    bytes: VecDeque<u8>,
    /// The client sent `eof`: end of file once the pending bytes are written.
    eof: bool,
    /// The program's stdin is closed.
    closed: bool,
}

/// One socket and, after `init`, its session.
struct Bridge {
    socket: WebSocket,
    state: AppState,
    /// Who opened the socket.
    caller: Caller,
    vocabulary: Vocabulary,
}

impl Bridge {
    fn new(socket: WebSocket, state: AppState, caller: Caller, vocabulary: Vocabulary) -> Bridge {
        Bridge {
            socket,
            state,
            caller,
            vocabulary,
        }
    }

    async fn run(mut self) {
        let end = match self.serve().await {
            Ok(()) => End::Close(close::JOB_COMPLETED, "Job Completed"),
            Err(end) => end,
        };
        match end {
            End::Close(code, reason) => self.close(code, reason).await,
            End::Notify(message) => {
                if self.send(&ServerMessage::Error { message }).await.is_ok() {
                    self.close(close::NOTIFIED_ERROR, "Notified Error").await;
                }
            }
            End::Gone => {}
            End::ClientClosed => {
                // Without the reply the client sees its clean close as abnormal (1006).
                let _ = tokio::time::timeout(CLOSE_GRACE, futures_util::SinkExt::flush(&mut self.socket)).await;
            }
        }
    }

    /// The whole conversation: `init` within the deadline, then the session until its end.
    async fn serve(&mut self) -> Result<(), End> {
        let init = self.wait_for_init().await?;
        let mut session = self.start(&init).await?;
        // The runner reports the session to the metrics when it ends, however it ends.
        self.drive(&mut session).await?;
        Ok(())
    }

    /// Wait for `init`; anything else first is refused as Piston does.
    async fn wait_for_init(&mut self) -> Result<String, End> {
        let deadline = tokio::time::Instant::now() + INIT_TIMEOUT;
        loop {
            let text = match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => return Err(End::Close(close::INIT_TIMEOUT, "Initialization Timeout")),
                Ok(text) => text?,
            };
            match classify(&text)? {
                Kind::Init => return Ok(text),
                Kind::Data | Kind::Signal => return Err(End::Close(close::NOT_INITIALISED, "Not yet initialized")),
                Kind::Eof | Kind::Kill if self.vocabulary == Vocabulary::Native => {
                    return Err(End::Close(close::NOT_INITIALISED, "Not yet initialized"))
                }
                other => self.unknown(other)?,
            }
        }
    }

    /// Translate `init` into a job and start its session.
    async fn start(&mut self, init: &str) -> Result<Session, End> {
        let (job, words) = match self.vocabulary {
            Vocabulary::Piston => {
                let request: ExecuteRequest = parse(init)?;
                let words = Words::Piston {
                    language: request.language.clone().unwrap_or_default(),
                    version: request.version.clone().unwrap_or_default(),
                };
                let PistonJob { job, stdin: _ } = PistonJob::try_from(request).map_err(|e| notify(e.message()))?;
                (job, words)
            }
            Vocabulary::Native => {
                let request: SessionRequest = parse(init)?;
                let job = Job::try_from(request).map_err(|e| notify(e.to_string()))?;
                (job, Words::Native)
            }
        };
        // The one check, before the session takes a run slot: the same answer under load.
        let job = self.state.runner().engine().check(job).map_err(|e| words.say(e))?;
        crate::quota::admit(&self.state, &self.caller, 1)
            .await
            .map_err(|e| notify(e.message()))?;
        let session = self
            .state
            .runner()
            .start_session(self.caller.trigger(self.vocabulary.trigger()), job)
            .await
            .map_err(|e| words.say(e))?;
        self.send(&ServerMessage::Runtime {
            language: session.language.clone(),
            version: session.version.clone(),
        })
        .await?;
        Ok(session)
    }

    /// Forward events and client messages until the job is done.
    async fn drive(&mut self, session: &mut Session) -> Result<(), End> {
        let mut stdout = Utf8Stream::default();
        let mut stderr = Utf8Stream::default();
        let mut stdin = PendingStdin::default();
        loop {
            let event = if stdin.bytes.is_empty() {
                tokio::select! {
                    event = session.next_event() => Some(event),
                    text = self.recv() => {
                        self.on_message(&text?, session, &mut stdin)?;
                        None
                    }
                }
            } else {
                let chunk: Vec<u8> = stdin.bytes.iter().take(STDIN_CHUNK_BYTES).copied().collect();
                // A chunk of at most PIPE_BUF is written whole or not at all, so abandoning the
                // write for another branch loses nothing.
                tokio::select! {
                    written = session.write_stdin(&chunk) => {
                        match written {
                            Ok(()) => drop(stdin.bytes.drain(..chunk.len())),
                            // The program closed its stdin or ended: the rest is not wanted.
                            Err(_) => stdin.bytes.clear(),
                        }
                    }
                    text = self.recv() => self.on_message(&text?, session, &mut stdin)?,
                    _ = tokio::time::sleep(STDIN_WAIT_SLICE) => {}
                }
                None
            };
            if stdin.eof && !stdin.closed && stdin.bytes.is_empty() {
                session.close_stdin();
                stdin.closed = true;
            }
            // While stdin waits, events are taken here too, without waiting for them.
            let mut events: Vec<Option<Event>> = Vec::new();
            match event {
                Some(event) => events.push(event),
                None => {
                    while events.len() < MAX_EVENTS_PER_TURN {
                        match futures_util::FutureExt::now_or_never(session.next_event()) {
                            Some(Some(event)) => events.push(Some(event)),
                            Some(None) => {
                                events.push(None);
                                break;
                            }
                            None => break,
                        }
                    }
                }
            }
            for event in events {
                match event {
                    None => return Err(notify("internal error: the run ended without a result")),
                    Some(Event::Stage(phase)) => self.send(&ServerMessage::Stage { stage: phase.as_str() }).await?,
                    Some(Event::Data { stream, data }) => {
                        let (decoder, name) = match stream {
                            StreamKind::Stdout => (&mut stdout, "stdout"),
                            StreamKind::Stderr => (&mut stderr, "stderr"),
                        };
                        let data = decoder.push(&data);
                        if !data.is_empty() {
                            self.send(&ServerMessage::Data { stream: name, data }).await?;
                        }
                    }
                    Some(Event::Waiting {
                        waiting,
                        input_wait_ms,
                        input_wait_left_ms,
                    }) => {
                        // Piston's clients know no such message.
                        if self.vocabulary == Vocabulary::Native {
                            let message = ServerMessage::Waiting {
                                waiting,
                                input_wait_ms,
                                input_wait_left_ms,
                            };
                            self.send(&message).await?;
                        }
                    }
                    Some(Event::Exit { phase, result }) => {
                        for (decoder, name) in [(&mut stdout, "stdout"), (&mut stderr, "stderr")] {
                            // Output cut at the cap: a character it split is dropped, not replaced.
                            let data = if result.truncated {
                                decoder.finish_cut()
                            } else {
                                decoder.finish()
                            };
                            if !data.is_empty() {
                                self.send(&ServerMessage::Data { stream: name, data }).await?;
                            }
                        }
                        let exit = self.exit_message(phase, result);
                        self.send(&exit).await?;
                    }
                    Some(Event::Done(_)) => return Ok(()),
                    Some(Event::Error(message)) => return Err(End::Notify(message)),
                }
            }
        }
    }

    /// A client message during the session.
    fn on_message(&mut self, text: &str, session: &mut Session, stdin: &mut PendingStdin) -> Result<(), End> {
        match classify(text)? {
            Kind::Init => Err(End::Close(close::ALREADY_INITIALISED, "Already Initialized")),
            Kind::Data => {
                let message: DataMessage = parse(text)?;
                if message.stream.as_deref() != Some("stdin") {
                    return Err(End::Close(close::STDIN_ONLY, "Can only write to stdin"));
                }
                let data = message.data.ok_or_else(|| notify("data is required as a string"))?;
                if data.len() > MAX_STDIN_MESSAGE_BYTES {
                    return Err(notify(format!(
                        "stdin data of {} bytes is more than the limit of {MAX_STDIN_MESSAGE_BYTES} bytes per message",
                        data.len()
                    )));
                }
                if stdin.eof {
                    return Err(notify("stdin was already closed (eof)"));
                }
                if stdin.bytes.len() + data.len() > MAX_PENDING_STDIN_BYTES {
                    return Err(notify(format!(
                        "the program is not reading its input: more than {MAX_PENDING_STDIN_BYTES} bytes are waiting"
                    )));
                }
                stdin.bytes.extend(data.as_bytes());
                Ok(())
            }
            Kind::Signal => {
                let message: SignalMessage = parse(text)?;
                let number = match &message.signal {
                    Some(serde_json::Value::String(name)) => signal::number(name),
                    _ => None,
                };
                let Some(number) = number else {
                    return Err(End::Close(close::INVALID_SIGNAL, "Invalid signal"));
                };
                self.deliver(session, number);
                Ok(())
            }
            Kind::Eof if self.vocabulary == Vocabulary::Native => {
                stdin.eof = true;
                Ok(())
            }
            Kind::Kill if self.vocabulary == Vocabulary::Native => {
                self.deliver(session, signal::SIGKILL);
                Ok(())
            }
            other => self.unknown(other),
        }
    }

    /// Deliver a signal (never waits; see `Session::signal`).
    fn deliver(&self, session: &Session, number: i32) {
        if let Err(e) = session.signal(number) {
            tracing::debug!(error = %e, signal = number, "signal not delivered");
        }
    }

    /// A message type this vocabulary does not know: Piston ignores it, native says so.
    fn unknown(&self, kind: Kind) -> Result<(), End> {
        match self.vocabulary {
            Vocabulary::Piston => Ok(()),
            Vocabulary::Native => {
                let shown = match kind {
                    Kind::Other(k) if !k.is_empty() => format!("unknown message type {k:?}"),
                    _ => "a message needs a \"type\"".to_string(),
                };
                Err(notify(format!("{shown}; expected init, data, signal, eof or kill")))
            }
        }
    }

    fn exit_message(&self, phase: Phase, result: StageOutcome) -> ServerMessage {
        let stage = phase.as_str();
        ServerMessage::Exit(match self.vocabulary {
            Vocabulary::Piston => {
                let (signal, message) = StageResult::signal_and_message(&result);
                Exit::Piston(PistonExit {
                    stage,
                    code: result.exit_code,
                    signal,
                    status: PistonStatus::of(&result).map(|s| s.as_str().to_string()),
                    message,
                })
            }
            Vocabulary::Native => Exit::Native(StageEnd::new(stage, result)),
        })
    }

    /// The next text message; pings and pongs are answered by axum and skipped here.
    async fn recv(&mut self) -> Result<String, End> {
        loop {
            match self.socket.recv().await {
                None | Some(Err(_)) => return Err(End::Gone),
                Some(Ok(Message::Close(_))) => return Err(End::ClientClosed),
                Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => {
                    return String::from_utf8(bytes.to_vec()).map_err(|_| notify("a binary message must be UTF-8 JSON"))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            }
        }
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), End> {
        let text = serde_json::to_string(message).map_err(|e| {
            tracing::error!(error = %e, "cannot encode a websocket message");
            End::Gone
        })?;
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Gone),
        }
    }

    /// Send a close frame and give the client a moment to answer it.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(message)) = self.socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Decodes a byte stream as UTF-8 across chunk boundaries: a character split between two
/// chunks is sent whole with the second; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
struct Utf8Stream {
    /// The start of a character whose remaining bytes have not arrived yet (at most 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let mut out = String::with_capacity(self.pending.len());
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let consumed = self.pending.len() - keep;
        self.pending.drain(..consumed);
        out
    }

    /// The end of the stream: whatever is left, replaced if incomplete.
    fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// The end of a stream cut at a byte cap: the start of a character whose rest was cut
    /// off is dropped.
    fn finish_cut(&mut self) -> String {
        self.pending.clear();
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_not_split_across_messages() {
        let text = "你好, world";
        let bytes = text.as_bytes();
        let mut d = Utf8Stream::default();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&d.push(&[*b]));
        }
        out.push_str(&d.finish());
        assert_eq!(out, text);

        let mut d = Utf8Stream::default();
        assert_eq!(d.push(&[0xe4, 0xbd]), "");
        assert_eq!(d.push(&[0xa0, b'a', 0xff, b'b']), "你a\u{fffd}b");
        assert_eq!(d.push(&[0xe4]), "");
        assert_eq!(d.finish(), "\u{fffd}");
        assert_eq!(d.push(&[b'x', 0xe8, 0xa1]), "x");
        assert_eq!(d.finish_cut(), "", "a character cut at the cap is dropped");
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn messages_are_classified() {
        assert_eq!(classify(r#"{"type":"init","language":"c"}"#).ok(), Some(Kind::Init));
        assert_eq!(classify(r#"{"type":"data"}"#).ok(), Some(Kind::Data));
        assert_eq!(classify(r#"{"type":"eof"}"#).ok(), Some(Kind::Eof));
        assert_eq!(classify(r#"{"type":"x"}"#).ok(), Some(Kind::Other("x".into())));
        assert_eq!(classify(r#"{}"#).ok(), Some(Kind::Other(String::new())));
        assert!(matches!(classify("{"), Err(End::Notify(m)) if m.starts_with("invalid message")));
        assert!(matches!(classify("5"), Err(End::Notify(_))));
    }

    #[test]
    fn server_messages_speak_each_vocabulary() {
        let m = serde_json::to_value(ServerMessage::Exit(Exit::Piston(PistonExit {
            stage: "run",
            code: None,
            signal: Some("SIGKILL".into()),
            status: Some("TO".into()),
            message: None,
        })))
        .unwrap();
        assert_eq!(
            m,
            serde_json::json!({"type": "exit", "stage": "run", "code": null, "signal": "SIGKILL",
                               "status": "TO", "message": null})
        );
        let killed = StageOutcome {
            status: sandbox::Status::TimeLimit,
            stdout: b"streamed already".to_vec(),
            signal: Some(9),
            cpu_time_ms: 1001,
            wall_time_ms: 1010,
            memory_kb: 640,
            message: Some("cpu time exceeded 1000 ms".into()),
            ..StageOutcome::default()
        };
        let m = serde_json::to_value(ServerMessage::Exit(Exit::Native(StageEnd::new("run", killed)))).unwrap();
        assert_eq!(
            m,
            serde_json::json!({"type": "exit", "stage": "run", "status": "time_limit", "exit_code": null,
                               "signal": 9, "cpu_time_ms": 1001, "wall_time_ms": 1010, "memory_kb": 640,
                               "message": "cpu time exceeded 1000 ms"})
        );
        let m = serde_json::to_value(ServerMessage::Data {
            stream: "stdout",
            data: "hi".into(),
        })
        .unwrap();
        assert_eq!(m, serde_json::json!({"type": "data", "stream": "stdout", "data": "hi"}));
    }
}
