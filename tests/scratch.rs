use herd::core::*;
use herd::sim::*;
use std::time::Duration;
#[test]
fn scratch() {
    let mut sim = Sim::new(1, NodeConfig::default(), NetworkModel::default());
    for i in 0..100 { sim.add_host(&format!("node-{i}")); }
    sim.start(0, &[]);
    for i in 1..100 { sim.start(i, &[0]); }
    sim.run_until(Duration::from_secs(30));
    for i in 0..40 { sim.partition.place(i, 1); }
    sim.partition.cut_between_sides();
    let t0 = sim.now();
    for k in 0..80 {
        sim.run_until(t0 + Duration::from_millis(100 * k));
        let n = sim.node(0).unwrap();
        let e = n.election();
        if k % 5 == 0 { println!("t+{:.1}s alive={} live={} claim={} primary={:?}", k as f64 / 10.0, e.alive, e.live, n.is_claiming(), n.primary()); }
    }
}
