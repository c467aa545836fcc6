//! Prometheus metrics, named after the OpenTelemetry FaaS conventions.

use std::time::Duration;

use engine::{EngineError, Outcome};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    invocations: IntCounterVec,
    duration: HistogramVec,
    errors: IntCounterVec,
    pub rate_limited: IntCounter,
    running: IntGauge,
    waiting: IntGauge,
    queued: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let invocations = IntCounterVec::new(
            Opts::new("faas_invocations_total", "Jobs run, by API, runtime and status"),
            &["trigger", "runtime", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("faas_invoke_duration_seconds", "Time from admission to outcome").buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["trigger", "runtime"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new("faas_errors_total", "Jobs refused or failed, by reason"),
            &["trigger", "runtime", "reason"],
        )
        .expect("valid metric");
        let rate_limited =
            IntCounter::new("tiderun_rate_limited_total", "Requests refused by the rate limit").expect("valid metric");
        let running = IntGauge::new("tiderun_runs_in_flight", "Jobs running now").expect("valid metric");
        let waiting = IntGauge::new("tiderun_admission_waiting", "Jobs waiting for a run slot").expect("valid metric");
        let queued = IntGauge::new("tiderun_queue_length", "Asynchronous submissions queued").expect("valid metric");
        for c in [
            Box::new(invocations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(errors.clone()),
            Box::new(rate_limited.clone()),
            Box::new(running.clone()),
            Box::new(waiting.clone()),
            Box::new(queued.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            invocations,
            duration,
            errors,
            rate_limited,
            running,
            waiting,
            queued,
        }
    }

    /// One job's result.
    pub fn record(&self, trigger: &str, language: &str, result: &Result<Outcome, EngineError>, took: Duration) {
        match result {
            Ok(outcome) => {
                self.invocations
                    .with_label_values(&[trigger, &outcome.language, outcome.status.as_str()])
                    .inc();
                self.duration
                    .with_label_values(&[trigger, &outcome.language])
                    .observe(took.as_secs_f64());
            }
            Err(e) => {
                let reason = match e {
                    EngineError::Busy { .. } => "busy",
                    EngineError::ShuttingDown => "shutting_down",
                    e if e.is_caller_mistake() => "bad_request",
                    _ => "internal",
                };
                self.errors.with_label_values(&[trigger, language, reason]).inc();
            }
        }
    }

    pub fn set_gauges(&self, running: usize, waiting: usize, queued: usize) {
        self.running.set(running as i64);
        self.waiting.set(waiting as i64);
        self.queued.set(queued as i64);
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}
