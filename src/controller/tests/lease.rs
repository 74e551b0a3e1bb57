//! Two replicas: a controller whose write gate is closed runs as a standby
//! (decides, logs, never writes) and writes again, from fresh observations,
//! once the gate opens.

use super::*;
use crate::controller::gated_writer::GatedWriter;
use crate::controller::WriteOutcome;
use crate::lease::WriteGate;

fn with_gate(gate: &WriteGate) -> ControllerConfig {
    ControllerConfig {
        write_gate: Some(gate.clone()),
        ..config()
    }
}

#[tokio::test(start_paused = true)]
async fn a_standby_decides_but_writes_only_while_it_holds_the_lease() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 1);
    let gate = WriteGate::new("b");
    let running = start(with_gate(&gate), &world, vec![policy("orders", 10)]);
    advance(35.0).await;
    assert!(world.writes().is_empty(), "a standby never writes");
    assert!(
        logs.text()
            .contains("standby (not the lease holder): would set desired 1 -> 9"),
        "{}",
        logs.text()
    );

    // The lease is won: the next evaluation writes, from the real count.
    gate.allow_until(u64::MAX);
    advance(10.0).await;
    assert_eq!(world.desired("orders"), 9);
    assert_eq!(world.writes().len(), 1);

    // The lease is lost: more work arrives, nothing is written.
    gate.allow_until(0);
    world.set_visible("orders", 1500);
    advance(30.0).await;
    assert_eq!(world.writes().len(), 1);
    assert_eq!(world.desired("orders"), 9);
    let (recorder, _) = running.stop().await;
    assert!(
        recorder
            .of("orders")
            .iter()
            .any(|(_, e)| matches!(e.write, WriteOutcome::DryRun { from: 9, to: 15 })),
        "the standby decided 9 -> 15 without writing it"
    );
}

#[tokio::test]
async fn the_writer_refuses_once_the_gate_is_closed() {
    let world = FakeWorld::new();
    world.add("orders", 0, "orders", 2);
    let gate = WriteGate::new("a");
    let writer = GatedWriter::new(world.ports(false).scaler, gate.clone());
    use crate::ports::DesiredCountWriter;
    let error = writer.set_desired("jobs", "orders", 5).await.unwrap_err();
    let chain = crate::ports::error_chain(&error);
    assert!(chain.contains("no longer holds the lease"), "{chain}");
    assert_eq!(world.desired("orders"), 2);
    gate.allow_until(u64::MAX);
    writer.set_desired("jobs", "orders", 5).await.unwrap();
    assert_eq!(world.desired("orders"), 5);
}
