use std::cell::Cell;

use super::*;
use crate::comm::Fake;

/// A member's result whose sum depends on the order of addition.
fn member(m: usize) -> Vec<f64> {
    (0..5).map(|i| ((m * 7 + i) as f64).sin() * 10f64.powi((m % 4) as i32 * 5 - 8)).collect()
}

fn done(v: &[f64]) -> Vec<u8> {
    let mut b = vec![DONE];
    v.to_vec().encode(&mut b);
    b
}

#[test]
fn serial_map_returns_every_member_in_order_and_reports_progress() {
    let e = Ensemble::serial();
    let mut seen = Vec::new();
    let out = e.map(5, |m| Ok::<_, String>(m as f64 * 1.5), |d, n| seen.push((d, n))).unwrap();
    assert_eq!(out, vec![0.0, 1.5, 3.0, 4.5, 6.0]);
    assert_eq!(seen, (1..=5).map(|d| (d, 5)).collect::<Vec<_>>());
    assert_eq!(e.map(0, |_| Ok::<f64, String>(1.0), |_, _| {}).unwrap(), Vec::<f64>::new());
}

#[test]
fn the_sum_adds_in_member_order_whatever_the_rank_count() {
    let n = 7;
    let serial = Ensemble::serial().sum(n, |m| Ok::<_, String>(member(m)), |_, _| {}).unwrap();
    let mut reference = member(0);
    for m in 1..n {
        reference.iter_mut().zip(member(m)).for_each(|(t, x)| *t += x);
    }
    assert_eq!(serial, reference);
    // a reversed sum differs in the last bits: the test can tell orders apart
    let mut reversed = member(n - 1);
    for m in (0..n - 1).rev() {
        reversed.iter_mut().zip(member(m)).for_each(|(t, x)| *t += x);
    }
    assert_ne!(reversed, reference, "choose members whose sum depends on the order");
    // rank r of 3, with the other ranks' results coming from the fake
    for rank in 0..3 {
        let comm = Fake {
            rank,
            size: 3,
            round: Cell::new(0),
            others: move |round: usize, r: usize| {
                let m = round * 3 + r;
                if m < n { done(&member(m)) } else { vec![IDLE] }
            },
        };
        let ran = Cell::new(Vec::new());
        let e = Ensemble::new(comm);
        let s = e
            .sum(
                n,
                |m| {
                    let mut v = ran.take();
                    v.push(m);
                    ran.set(v);
                    Ok::<_, String>(member(m))
                },
                |_, _| {},
            )
            .unwrap();
        assert_eq!(s, reference, "rank {rank} of 3");
        let expect: Vec<usize> = (0..n).filter(|m| m % 3 == rank).collect();
        assert_eq!(ran.take(), expect, "rank {rank} runs its own members only");
    }
}

#[test]
fn a_failure_on_another_rank_stops_every_rank_with_its_name() {
    // rank 0 of 2; member 3 (rank 1, round 1) fails
    let comm = Fake {
        rank: 0,
        size: 2,
        round: Cell::new(0),
        others: |round: usize, _r: usize| {
            if round == 1 {
                let mut b = vec![FAILED];
                b.extend_from_slice(b"simulation blew up at step 17");
                b
            } else {
                done(&[1.0])
            }
        },
    };
    let e = Ensemble::new(comm);
    let mut ran = Vec::new();
    let err = e
        .map(
            6,
            |m| {
                ran.push(m);
                Ok::<_, String>(vec![1.0])
            },
            |_, _| {},
        )
        .unwrap_err();
    assert_eq!(
        err,
        EnsembleError::Member { member: 3, rank: 1, size: 2, message: "simulation blew up at step 17".into() }
    );
    assert_eq!(err.to_string(), "ensemble member 3 (on rank 1 of 2) failed: simulation blew up at step 17");
    // rank 0 stopped after the round of the failure: member 4 never ran
    assert_eq!(ran, vec![0, 2]);
}

#[test]
fn errors_and_panics_of_a_member_become_member_errors() {
    let e = Ensemble::serial();
    let err = e.map(3, |m| if m == 1 { Err("no".to_string()) } else { Ok(0.0) }, |_, _| {}).unwrap_err();
    assert!(matches!(err, EnsembleError::Member { member: 1, rank: 0, .. }), "{err}");
    let err = e
        .map(
            3,
            |m| {
                if m == 2 {
                    panic!("index out of range at step 5");
                }
                Ok::<f64, String>(0.0)
            },
            |_, _| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("member 2") && err.to_string().contains("panicked: index out of range at step 5"));
    let err = e.sum(2, |m| Ok::<_, String>(vec![0.0; m + 1]), |_, _| {}).unwrap_err();
    assert_eq!(err, EnsembleError::Length { member: 1, expected: 1, got: 2 });
}

#[test]
fn work_done_everywhere_fails_everywhere() {
    assert_eq!(Ensemble::serial().everywhere(|| Ok::<_, String>(3)).unwrap(), 3);
    // rank 1 of 2 fails its set-up; rank 0 succeeded but must stop too
    let comm = Fake {
        rank: 0,
        size: 2,
        round: Cell::new(0),
        others: |_, _| {
            let mut b = vec![FAILED];
            b.extend_from_slice(b"cannot read the snapshot");
            b
        },
    };
    let err = Ensemble::new(comm).everywhere(|| Ok::<_, String>(())).unwrap_err();
    assert_eq!(err, EnsembleError::Rank { rank: 1, size: 2, message: "cannot read the snapshot".into() });
}

#[test]
fn a_garbled_or_out_of_turn_answer_is_an_error_not_a_wrong_result() {
    let comm = Fake { rank: 0, size: 2, round: Cell::new(0), others: |_, _| vec![DONE, 1, 2, 3] };
    let err = Ensemble::new(comm).map(2, |_| Ok::<_, String>(vec![1.0]), |_, _| {}).unwrap_err();
    assert!(matches!(err, EnsembleError::Comm(_)), "{err}");
    let comm = Fake { rank: 0, size: 2, round: Cell::new(0), others: |_, _| vec![IDLE] };
    let err = Ensemble::new(comm).map(2, |_| Ok::<_, String>(vec![1.0]), |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("out of turn"), "{err}");
}

#[test]
fn payloads_round_trip_bit_for_bit() {
    let v = vec![0.1, -0.0, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE / 3.0, 1e300];
    let mut b = Vec::new();
    v.encode(&mut b);
    let back = Vec::<f64>::decode(&b).unwrap();
    assert!(v.iter().zip(&back).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(Vec::<f64>::decode(&b[..5]).is_none());
    let pair = (vec![1.0, 2.0], "row".to_string());
    let mut b = Vec::new();
    pair.encode(&mut b);
    assert_eq!(<(Vec<f64>, String)>::decode(&b).unwrap(), pair);
    assert!(<(Vec<f64>, String)>::decode(&b[..4]).is_none());
    let mut b = Vec::new();
    2.5f64.encode(&mut b);
    assert_eq!(f64::decode(&b), Some(2.5));
    assert_eq!(<()>::decode(&[]), Some(()));
}

#[test]
fn threads_gather_every_rank_in_rank_order_round_after_round() {
    for size in 1..=4 {
        let out: Vec<Vec<Vec<Vec<u8>>>> = std::thread::scope(|s| {
            let hs: Vec<_> = Threads::group(size)
                .into_iter()
                .map(|c| {
                    s.spawn(move || (0..3u8).map(|round| c.all_gather(&[c.rank() as u8, round]).unwrap()).collect())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for rank_out in &out {
            for (round, got) in rank_out.iter().enumerate() {
                let want: Vec<Vec<u8>> = (0..size).map(|r| vec![r as u8, round as u8]).collect();
                assert_eq!(got, &want);
            }
        }
    }
}

#[test]
fn the_ring_hands_each_rank_its_neighbours_messages() {
    for size in 1..=4 {
        let out: Vec<(Vec<u8>, Vec<u8>)> = std::thread::scope(|s| {
            let hs: Vec<_> = Threads::group(size)
                .into_iter()
                .map(|c| {
                    s.spawn(move || {
                        let r = c.rank() as u8;
                        // messages of different lengths, so that a mix-up shows
                        c.ring(&[r, 100], &[r, 200, 200]).unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (r, (from_prev, from_next)) in out.iter().enumerate() {
            let (p, n) = (((r + size - 1) % size) as u8, ((r + 1) % size) as u8);
            assert_eq!(from_prev, &vec![p, 200, 200], "rank {r} of {size}");
            assert_eq!(from_next, &vec![n, 100], "rank {r} of {size}");
        }
    }
}

#[test]
fn the_all_to_all_hands_each_rank_what_every_rank_sent_it() {
    for size in 1..=4 {
        let out: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
            let hs: Vec<_> = Threads::group(size)
                .into_iter()
                .map(|c| {
                    s.spawn(move || {
                        // to rank q: q + 1 bytes saying who sent them (rank 0's
                        // message to itself is empty)
                        let r = c.rank() as u8;
                        let send: Vec<Vec<u8>> = (0..size).map(|q| vec![r; q + usize::from(r > 0 || q > 0)]).collect();
                        c.all_to_all(&send).unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (r, got) in out.iter().enumerate() {
            let want: Vec<Vec<u8>> = (0..size).map(|q| vec![q as u8; r + usize::from(q > 0 || r > 0)]).collect();
            assert_eq!(got, &want, "rank {r} of {size}");
        }
    }
}

#[test]
fn a_rank_that_leaves_fails_the_others_collective_instead_of_hanging() {
    let mut group = Threads::group(3);
    let gone = group.pop().unwrap();
    let out: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = group.into_iter().map(|c| s.spawn(move || c.all_gather(&[1]))).collect();
        drop(gone);
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in out {
        let e = r.unwrap_err();
        assert!(e.to_string().contains("rank 2 left"), "{e}");
    }
}
