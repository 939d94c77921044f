//! `FacadeRecorder::install`: the global recorder, once. Alone in a
//! child process (`support::child::alone`), so that no other test runs
//! with a global recorder set.
#![cfg(feature = "facade")]

use std::time::Duration;

use lockfree_metrics::registry::{Registry, Value};

use crate::support::child;

#[test]
fn installs_once() {
    child::alone(
        module_path!(),
        "installs_once",
        Duration::from_secs(60),
        || {
            let registry = Registry::new();
            registry.recorder().install().unwrap();
            metrics::counter!("global.calls").increment(2);
            assert_eq!(
                registry.snapshot().get("global_calls", &[]).unwrap().value,
                Value::Counter(2)
            );

            let other = Registry::new();
            let refused = other.recorder().install().unwrap_err();
            // The refused recorder comes back, still usable.
            let back = refused.into_inner();
            metrics::with_local_recorder(&back, || metrics::counter!("global.calls").increment(5));
            assert_eq!(
                other.snapshot().get("global_calls", &[]).unwrap().value,
                Value::Counter(5)
            );
            metrics::counter!("global.calls").increment(1);
            assert_eq!(
                registry.snapshot().get("global_calls", &[]).unwrap().value,
                Value::Counter(3)
            );
        },
    );
}
