//! Checkpoint schedule generation (issue: checkpointed adjoints): time to
//! generate the binomial and online schedules for n = 10⁵ steps and
//! s = 4, 10, 32, 100 snapshots (goal: binomial under 1 ms).

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group};
use rewind_checkpoint::Strategy;

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)).sample_size(30);
    let n = 100_000;
    for s in [4usize, 10, 32, 100] {
        group.bench_with_input(BenchmarkId::new("binomial", s), &s, |b, &s| {
            b.iter(|| Strategy::Binomial { snapshots: s }.schedule(black_box(n)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("online", s), &s, |b, &s| {
            b.iter(|| Strategy::Online { snapshots: s }.schedule(black_box(n)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, generation);
fn main() {
    // criterion's charts are drawn by plotters, whose text needs the font
    // that rewind-io ships (plotters' `ab_glyph` feature is on in this workspace)
    rewind_io::plot::register_font().expect("the shipped font loads");
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
