//! One thread, one series: `ins VARIANT N` records N values (4,096
//! log-uniform 1us..10s, cycled). Run under callgrind at two N and take the
//! difference per record, minus `noop`'s.
use proto::index::{Exp, Hdr};
use proto::paged::{Dense, Hist, SharedPaged, Tls, S};
use std::hint::black_box;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a[2].parse().unwrap();
    let vals = proto::log_uniform(4096, 1e3, 1e10, 11);
    let ix = Exp::new(S);
    let ix5 = Exp::new(5);
    let hdr = Hdr::new(1, 3_600_000_000_000, 2);
    macro_rules! go {
        ($v:ident => $e:expr) => {{
            for i in 0..n {
                let $v = black_box(vals[i & 4095]);
                $e;
            }
        }};
    }
    match a[1].as_str() {
        "noop" => go!(v => black_box(v)),
        "idx-hdr" => go!(v => black_box(hdr.index(v))),
        "idx-exp5" => go!(v => black_box(ix5.index(v))),
        "idx-exp6" => go!(v => black_box(ix.index(v))),
        "dense-shared" => { let d = Dense::new(hdr.clone()); go!(v => d.record(v)); black_box(d.count()); }
        "paged-shared" => { let d = SharedPaged::default(); go!(v => d.record(&ix, v)); black_box(&d); }
        "owner" => { let h = Hist::default(); go!(v => h.record(&ix, v)); black_box(h.count()); }
        "tls" => { let h = Tls::default(); go!(v => h.record(&ix, v)); black_box(h.count()); }
        "sync-hdr" => {
            let mut s: hdrhistogram::sync::SyncHistogram<u64> = hdrhistogram::Histogram::new_with_bounds(1000, 3_600_000_000_000, 2).unwrap().into_sync();
            let mut r = s.recorder();
            go!(v => r.record(v).unwrap());
            drop(r); s.refresh(); black_box(s.len());
        }
        "plain-hdr" => {
            let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 2).unwrap();
            go!(v => h.record(v).unwrap()); black_box(h.len());
        }
        x => panic!("{x}"),
    }
}
