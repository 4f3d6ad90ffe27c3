//! Scoring many rows at once in an explicit rayon pool: chunks of rows, the
//! kNN search done for a whole chunk at once and then each row as
//! `Model::score` scores it (so batch and inline scores are identical),
//! results in row order. The caller (the backend) checks for interrupts
//! between calls.

use crate::error::{CoreError, Result};
use crate::model::{KnnDone, Model, Scratch};
use crate::rows::{cells_hash, Distinct, Rows};
use crate::schema::Value;
use crate::score_memo::{Placed, ScoreMemo};
use crate::student::Student;
use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

/// Rows per parallel task: large enough to amortise the scratch, small
/// enough to balance two cores on a 10,000-row fetch.
const CHUNK: usize = 512;

impl Model {
    /// Scores of `rows` (each in model column order), computed in `pool`.
    pub fn score_batch(
        &self,
        rows: &[Vec<Value<'_>>],
        pool: &rayon::ThreadPool,
    ) -> Result<Vec<f64>> {
        let parts: Vec<Result<Vec<f64>>> = pool.install(|| {
            rows.par_chunks(CHUNK)
                .map(|chunk| self.score_chunk(chunk))
                .collect()
        });
        let mut out = Vec::with_capacity(rows.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }
}

impl Model {
    /// One task's rows: the kNN search for all of them first (the reference
    /// is read once per tile of rows, not once per row), then each row as
    /// `score` scores it, with its kNN shares given: the same bits. The
    /// hybrid model (the default) goes through `score_hybrid`.
    fn score_chunk<'v, R: AsRef<[Value<'v>]>>(&self, chunk: &[R]) -> Result<Vec<f64>> {
        let d = self.n_columns();
        if let Some(st) = self.hybrid() {
            let layout = self.layout();
            return self.score_hybrid(st, chunk.len(), |i, base, marg, z| {
                self.encode_row(layout, chunk[i].as_ref().iter(), base, marg, z)
            });
        }
        let mut s = self.scratch();
        if !self.uses_knn() || d == 0 {
            return chunk
                .iter()
                .map(|r| self.score(r.as_ref(), &mut s))
                .collect();
        }
        let n = chunk.len();
        let mut zs = vec![0.0f32; n * d];
        for (r, z) in chunk.iter().zip(zs.chunks_exact_mut(d)) {
            self.knn_coords(r.as_ref(), z)?;
        }
        let (cols, lins) = self.chunk_knn(n, &zs, &mut s);
        chunk
            .iter()
            .enumerate()
            .map(|(r, row)| self.score_with(row.as_ref(), &mut s, Some(self.done(r, &cols, &lins))))
            .collect()
    }

    /// The kNN shares (`n x d`) and linear residuals of a chunk's rows from
    /// their coordinates `zs`: the search for all of them at once.
    fn chunk_knn(&self, n: usize, zs: &[f32], s: &mut Scratch) -> (Vec<f64>, Vec<f32>) {
        let d = self.n_columns();
        let (mut cols, mut dists) = (vec![0.0f64; n * d], vec![0.0f64; n]);
        self.reference
            .distance_batch(zs, &mut s.knn, &mut cols, &mut dists);
        let mut lins = Vec::new();
        if let Some(l) = &self.linear {
            lins.resize(n * l.d, 0.0);
            l.residuals_rows(zs, n, &mut lins);
        }
        (cols, lins)
    }

    /// Row `r`'s part of `chunk_knn`'s results.
    fn done<'a>(&'a self, r: usize, cols: &'a [f64], lins: &'a [f32]) -> KnnDone<'a> {
        let d = self.n_columns();
        KnnDone {
            cols: &cols[r * d..(r + 1) * d],
            lin: self.linear.as_ref().map(|l| &lins[r * l.d..(r + 1) * l.d]),
        }
    }

    /// The student when batch scoring takes the hybrid path (the default
    /// model): each row encoded once, the chunk's kNN search, the student.
    fn hybrid(&self) -> Option<&Student> {
        self.student
            .as_ref()
            .filter(|_| self.uses_knn() && self.n_columns() > 0)
    }

    /// The hybrid scores of `n` rows that `encode(i, base, marg, z)` encodes
    /// (`Model::encode_row`): each row is encoded once, its value slots and
    /// marginals waiting while the chunk's kNN search runs.
    fn score_hybrid(
        &self,
        st: &Student,
        n: usize,
        mut encode: impl FnMut(usize, &mut [f32], &mut [f64], &mut [f32]) -> Result<()>,
    ) -> Result<Vec<f64>> {
        let (d, nv) = (self.n_columns(), self.layout().n_values);
        let mut s = self.scratch();
        let mut zs = vec![0.0f32; n * d];
        let mut enc = Encoded {
            base: vec![0.0; n * nv],
            marg: vec![0.0; n * d],
        };
        for i in 0..n {
            encode(
                i,
                &mut enc.base[i * nv..(i + 1) * nv],
                &mut enc.marg[i * d..(i + 1) * d],
                &mut zs[i * d..(i + 1) * d],
            )?;
        }
        let (cols, lins) = self.chunk_knn(n, &zs, &mut s);
        self.student_rows(st, n, &enc, &zs, |r| self.done(r, &cols, &lins))
    }

    /// `score_chunk` of `n` rows of a compact batch from `start` on: rows
    /// `start..start + n`, or with `picks` the rows it lists there. The
    /// hybrid path (the default) encodes them straight from the cells; the
    /// others lay their values out first.
    fn score_at(
        &self,
        rows: &Rows,
        picks: Option<&[u32]>,
        start: usize,
        n: usize,
    ) -> Result<Vec<f64>> {
        let at = |i: usize| picks.map_or(start + i, |p| p[start + i] as usize);
        if let Some(st) = self.hybrid() {
            let layout = self.layout();
            return self.score_hybrid(st, n, |i, base, marg, z| {
                self.encode_row(layout, rows.row_values(at(i)), base, marg, z)
            });
        }
        let laid: Vec<Vec<Value<'_>>> = (0..n).map(|i| rows.row_values(at(i)).collect()).collect();
        self.score_chunk(&laid)
    }

    /// The hybrid scores of `rows` with their kNN shares `cols`, the student
    /// run for a few rows at a time (`forward_rows_exact`: each weight load
    /// serves two rows): the same bits as `score_with` row by row.
    fn student_rows<'a>(
        &self,
        st: &Student,
        n: usize,
        enc: &Encoded,
        zs: &[f32],
        done: impl Fn(usize) -> KnnDone<'a>,
    ) -> Result<Vec<f64>> {
        let g = Student::BATCH_ROWS;
        let layout = self.layout();
        let (nv, d) = (layout.n_values, self.n_columns());
        let mut scr: Vec<_> = (0..g).map(|_| self.scratch()).collect();
        let n_in = st.net.n_in();
        let mut xs = vec![0.0f32; g * n_in];
        let mut hidden = [Vec::new(), Vec::new()];
        let mut out = Vec::with_capacity(n);
        for g0 in (0..n).step_by(g) {
            let m = g.min(n - g0);
            for (i, (s, x)) in (g0..g0 + m).zip(scr.iter_mut().zip(xs.chunks_exact_mut(n_in))) {
                self.prepare_row_encoded(
                    layout,
                    &enc.base[i * nv..(i + 1) * nv],
                    &enc.marg[i * d..(i + 1) * d],
                    &zs[i * d..(i + 1) * d],
                    s,
                    Some(done(i)),
                );
                self.student_input(layout, s);
                x.copy_from_slice(&s.student_x);
            }
            let ys = st.net.forward_rows_exact(&xs[..m * n_in], m, &mut hidden);
            // The first output of each row, as `mean_prediction` reads it.
            let per_row = ys.len() / m.max(1);
            if per_row == 0 {
                return Err(CoreError::Internal("student without outputs".into()));
            }
            out.extend(
                scr.iter()
                    .zip(ys.chunks_exact(per_row))
                    .map(|(s, y)| self.hybrid_total(crate::student::mean_from_output(y[0]), s)),
            );
        }
        Ok(out)
    }
}

/// A chunk's rows as `Model::encode_row` encodes them (the hybrid path).
struct Encoded {
    base: Vec<f32>,
    marg: Vec<f64>,
}

/// Rows handed to the pipeline, scored, and handed back with their scores.
pub type Scored<T> = (T, Rows, Result<Vec<f64>>);

/// One chunk's scores, by chunk index within its batch.
type ChunkScores = (usize, Result<Vec<f64>>);

/// How every row of a batch gets its score; the rows the pool scores are
/// the batch's `picks` (`InFlight`), in row order.
enum Plan {
    /// Every row is scored.
    All,
    /// Each row's entry in the scan's memo (`u32::MAX` for a row it refused):
    /// the picks are the rows that added their entry, and those it refused.
    Memo { entry: Vec<u32> },
    /// The memo is full: rows repeated within the batch share a group
    /// (`Distinct`); a group's score is the memo's (`held`) or, where that
    /// is NaN, its first row's, which the picks list.
    Local { distinct: Distinct, held: Vec<f64> },
}

/// A batch in flight: its chunks are scored by whichever pool thread is free.
struct InFlight<T> {
    tag: T,
    rows: Arc<Rows>,
    plan: Plan,
    /// The rows the pool scores, in order; None for every row.
    picks: Option<Arc<Vec<u32>>>,
    chunks: usize,
    rx: Receiver<ChunkScores>,
}

/// Pipelined batch scoring: while the pool scores earlier batches, the caller
/// (the backend, which alone may call Postgres) fetches the next. Each batch
/// is queued as chunks of `CHUNK` rows that any pool thread takes, in
/// submission order, so both threads work until the last chunk of the scan
/// (one thread per batch left the other idle at the start and the end of a
/// scan, up to a whole batch). The caller never waits on a batch while the
/// pool has fewer than one batch per thread queued. Batches come back in
/// submission order. A row equal to one scored earlier in the scan (the
/// memo, `with_memo`) or in its batch is not scored again (see `MIN_REPEATS`).
pub struct Pipeline<T: Send + 'static> {
    model: Arc<Model>,
    pool: Arc<rayon::ThreadPool>,
    in_flight: VecDeque<InFlight<T>>,
    /// Whether batches are still searched for repeated rows (each scored
    /// once): off once a batch repeats under `MIN_REPEATS` of its rows.
    dedup: bool,
    memo: ScoreMemo,
}

/// The share of repeated rows in a batch (within it or held by the memo)
/// below which a scan stops looking for them (hashing a row costs about as
/// much as 2% of scoring it), judged on a batch of at least `JUDGED_ROWS` (a
/// small batch repeats less: of celeba's rows 12% repeat within 10,000, 44%
/// within the whole table).
const MIN_REPEATS: f64 = 0.02;
const JUDGED_ROWS: usize = 8192;

impl<T: Send + 'static> Pipeline<T> {
    pub fn new(model: Arc<Model>, pool: rayon::ThreadPool) -> Self {
        Pipeline {
            model,
            pool: Arc::new(pool),
            in_flight: VecDeque::new(),
            dedup: true,
            memo: ScoreMemo::default(),
        }
    }

    /// Keep the scores of up to `bytes` of distinct rows of `width` cells
    /// across batches (`ScoreMemo`).
    pub fn with_memo(mut self, width: usize, bytes: usize) -> Self {
        self.memo = ScoreMemo::new(width, bytes);
        self
    }

    /// Rows the memo holds.
    pub fn memo_rows(&self) -> usize {
        self.memo.len()
    }

    /// How `rows` get their scores, and the rows the pool scores (None:
    /// every row): a repeated row is scored once (rows equal in every cell
    /// get the same score bit for bit), and not at all when an earlier batch
    /// scored its equal.
    fn plan(&mut self, rows: &Rows) -> (Plan, Option<Vec<u32>>) {
        if !self.dedup || !rows.hashable() {
            return (Plan::All, None);
        }
        let (plan, picks) = if self.memo.takes(rows.width()) && !self.memo.full() {
            let hashes: Vec<u64> = (0..rows.len())
                .map(|r| cells_hash(rows.cells_of(r)))
                .collect();
            let mut placed = Vec::new();
            self.memo
                .place_many(&hashes, |r| rows.cells_of(r), &mut placed);
            let mut picks = Vec::new();
            let entry = placed
                .iter()
                .enumerate()
                .map(|(r, p)| match *p {
                    Placed::Held(e) => e,
                    Placed::New(e) => {
                        picks.push(r as u32);
                        e
                    }
                    Placed::Refused => {
                        picks.push(r as u32);
                        u32::MAX
                    }
                })
                .collect();
            (Plan::Memo { entry }, picks)
        } else {
            let Some(distinct) = rows.distinct() else {
                return (Plan::All, None);
            };
            let held = if self.memo.takes(rows.width()) {
                self.memo.get_many(&distinct.hashes, |g| {
                    rows.cells_of(distinct.firsts[g] as usize)
                })
            } else {
                vec![f64::NAN; distinct.firsts.len()]
            };
            let picks = distinct
                .firsts
                .iter()
                .zip(&held)
                .filter(|(_, h)| h.is_nan())
                .map(|(&f, _)| f)
                .collect();
            (Plan::Local { distinct, held }, picks)
        };
        if rows.len() >= JUDGED_ROWS {
            self.dedup = 1.0 - picks.len() as f64 / rows.len() as f64 >= MIN_REPEATS;
        }
        (plan, Some(picks))
    }

    /// Start scoring `rows` (tagged with `tag`); once every pool thread has
    /// a batch's worth queued, returns the oldest, scored.
    pub fn submit(&mut self, tag: T, rows: Rows) -> Option<Scored<T>> {
        let (tx, rx) = channel();
        let (plan, picks) = self.plan(&rows);
        let picks = picks.map(Arc::new);
        let rows = Arc::new(rows);
        let units = picks.as_ref().map_or(rows.len(), |p| p.len());
        let chunks = units.div_ceil(CHUNK);
        for c in 0..chunks {
            let (model, rows, tx) = (Arc::clone(&self.model), Arc::clone(&rows), tx.clone());
            let picks = picks.clone();
            // Spawned from outside the pool: a FIFO queue, so older batches go first.
            self.pool.spawn(move || {
                let (start, n) = (c * CHUNK, CHUNK.min(units - c * CHUNK));
                // A panic must not unwind into rayon (which aborts the process):
                // it becomes an error the caller raises.
                let scores = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    model.score_at(&rows, picks.as_ref().map(|p| p.as_slice()), start, n)
                }))
                .unwrap_or_else(|_| Err(CoreError::Internal("batch scoring panicked".into())));
                // Let go of the rows before reporting, so that the caller owns
                // them alone once every chunk has reported.
                drop(rows);
                drop(picks);
                // The receiver only goes away when the caller is unwinding an error.
                let _ = tx.send((c, scores));
            });
        }
        self.in_flight.push_back(InFlight {
            tag,
            rows,
            plan,
            picks,
            chunks,
            rx,
        });
        if self.in_flight.len() > self.pool.current_num_threads().max(1) {
            self.wait()
        } else {
            None
        }
    }

    /// The batches still in flight, in submission order, once scored.
    pub fn finish(mut self) -> Vec<Scored<T>> {
        std::iter::from_fn(|| self.wait()).collect()
    }

    fn wait(&mut self) -> Option<Scored<T>> {
        let f = self.in_flight.pop_front()?;
        // Every chunk job sends its index once, unless the pool itself is gone.
        let mut parts: Vec<Result<Vec<f64>>> = (0..f.chunks).map(|_| Ok(Vec::new())).collect();
        for _ in 0..f.chunks {
            let Ok((c, scores)) = f.rx.recv() else {
                unreachable!("scoring job ended without a result")
            };
            parts[c] = scores;
        }
        let scored = parts
            .into_iter()
            .try_fold(Vec::with_capacity(f.rows.len()), |mut out, p| {
                out.extend(p?);
                Ok(out)
            });
        let n = f.rows.len();
        let picks = f.picks.as_deref().map_or(&[][..], Vec::as_slice);
        let scores = scored.and_then(|unit| self.spread(f.plan, picks, unit, n));
        // Every job dropped its handle before reporting.
        let rows = Arc::try_unwrap(f.rows).unwrap_or_else(|shared| shared.as_ref().clone());
        Some((f.tag, rows, scores))
    }

    /// Every row's score from the scores `unit` of the rows `picks` the pool
    /// scored; a new memo entry takes its score here. Batches come back in
    /// order, so an entry an earlier batch added is filled by now.
    fn spread(&mut self, plan: Plan, picks: &[u32], unit: Vec<f64>, n: usize) -> Result<Vec<f64>> {
        let missing = || CoreError::Internal("a batch's scores went missing".into());
        match plan {
            Plan::All if unit.len() == n => Ok(unit),
            Plan::Memo { entry } if unit.len() == picks.len() => {
                for (&r, &v) in picks.iter().zip(&unit) {
                    self.memo.set(entry[r as usize], v);
                }
                let mut next = picks.iter().zip(&unit).peekable();
                (0..n as u32)
                    .map(|r| match next.next_if(|(&u, _)| u == r) {
                        Some((_, &v)) => Ok(v),
                        None => Some(self.memo.score(entry[r as usize]))
                            .filter(|v| !v.is_nan())
                            .ok_or_else(missing),
                    })
                    .collect()
            }
            Plan::Local { distinct, mut held } if unit.len() == picks.len() => {
                let mut scored = unit.into_iter();
                for h in held.iter_mut().filter(|h| h.is_nan()) {
                    *h = scored.next().ok_or_else(missing)?;
                }
                Ok(distinct.group.iter().map(|&g| held[g as usize]).collect())
            }
            _ => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rng::Rng;
    use crate::{thread_pool, train, ColumnSpec, CoreError, Rows, TrainOptions, Value};
    use std::sync::Arc;

    #[test]
    fn batch_equals_one_by_one_for_any_pool() {
        let specs = ColumnSpec::numbered("c", 4);
        let mut rng = Rng::new(4);
        let rows: Vec<Vec<Value<'static>>> = (0..1500)
            .map(|_| (0..4).map(|_| Value::Num(rng.normal())).collect())
            .collect();
        let p1 = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let p2 = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
        let opts = TrainOptions {
            epochs: Some(3),
            ..Default::default()
        };
        let (m, _) =
            train(&specs, &rows, &opts, &p1, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
        let mut s = m.scratch();
        let single: Vec<f64> = rows
            .iter()
            .map(|r| m.score(r, &mut s).unwrap_or(f64::NAN))
            .collect();
        // The same arithmetic as the one-row path: identical scores for any pool size.
        let b1 = m.score_batch(&rows, &p1).unwrap_or_default();
        let b2 = m.score_batch(&rows, &p2).unwrap_or_default();
        assert_eq!(b1, b2);
        assert_eq!(b1, single);
        // The pipeline returns the same scores and rows, in submission order
        // (up to one batch per pool thread behind), for batches of one chunk,
        // of several (CHUNK = 512, the last one short) and empty ones.
        for (size, tags) in [(400, vec![0, 1, 2, 3]), (1100, vec![0, 1])] {
            let mut pipe = super::Pipeline::new(
                Arc::new(m.clone()),
                thread_pool(2).unwrap_or_else(|e| panic!("{e}")),
            );
            let mut piped = Vec::new();
            let mut keep = |(tag, back, sc): super::Scored<usize>| {
                let sc = sc.unwrap_or_default();
                assert_eq!(back.len(), sc.len());
                piped.push((tag, back, sc));
            };
            for (i, chunk) in rows.chunks(size).enumerate() {
                let batch = Rows::from_rows(4, chunk).unwrap_or_else(|e| panic!("{e}"));
                if let Some(done) = pipe.submit(i, batch) {
                    keep(done);
                }
            }
            if let Some(done) = pipe.submit(usize::MAX, Rows::with_capacity(4, 0)) {
                keep(done);
            }
            pipe.finish().into_iter().for_each(&mut keep);
            let empty = piped.pop().unwrap_or_else(|| panic!("no batches"));
            assert_eq!((empty.0, empty.1.len(), empty.2.len()), (usize::MAX, 0, 0));
            assert_eq!(piped.iter().map(|p| p.0).collect::<Vec<_>>(), tags);
            let back: Vec<_> = piped
                .iter()
                .flat_map(|p| (0..p.1.len()).map(|r| p.1.row_owned(r)))
                .collect();
            assert_eq!(back, rows);
            let scores: Vec<f64> = piped.into_iter().flat_map(|p| p.2).collect();
            assert_eq!(scores, single);
        }
        // Repeated rows (scored once each, then handed to every copy): a batch
        // with repeats, one judged without (the scan stops looking), one with
        // repeats again (scored row by row).
        let mut pipe = super::Pipeline::new(
            Arc::new(m.clone()),
            thread_pool(2).unwrap_or_else(|e| panic!("{e}")),
        );
        let repeated: Vec<Vec<Value<'static>>> =
            (0..1200).map(|i| rows[i % 7 * 3].clone()).collect();
        let fresh: Vec<Vec<Value<'static>>> = (0..super::JUDGED_ROWS)
            .map(|_| (0..4).map(|_| Value::Num(rng.normal())).collect())
            .collect();
        let batches = [&repeated[..], &fresh[..], &repeated[..700]];
        let mut got = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            let batch = Rows::from_rows(4, b).unwrap_or_else(|e| panic!("{e}"));
            got.extend(pipe.submit(i, batch));
            // Still looking after the small batch, no longer after the judged one.
            assert_eq!(pipe.dedup, i == 0, "batch {i}");
        }
        got.extend(pipe.finish());
        for ((_, back, sc), b) in got.into_iter().zip(batches) {
            let want: Vec<f64> = b
                .iter()
                .map(|r| m.score(r, &mut s).unwrap_or(f64::NAN))
                .collect();
            assert_eq!(sc.unwrap_or_default(), want);
            assert_eq!(back.len(), b.len());
        }
        // A scan's memo: rows repeated across batches are scored once, and
        // every row keeps its own score, while the memo has room, as it
        // fills mid-batch (rows refused), and once it is full (repeats within
        // a batch, and rows it holds, still scored once).
        let pool: Vec<Vec<Value<'static>>> = (0..300).map(|i| rows[i * 5].clone()).collect();
        let stream: Vec<Vec<Value<'static>>> = (0..6000)
            .map(|_| pool[rng.below(300) as usize].clone())
            .collect();
        let want: Vec<f64> = stream
            .iter()
            .map(|r| m.score(r, &mut s).unwrap_or(f64::NAN))
            .collect();
        // Bytes for one 512 KB piece of the store and 1,024 slots, and 0, 40
        // or every row's 20 bytes (with 2,048 slots for the last).
        let piece = 1 << 19;
        for (budget, held) in [
            (piece + 1024 * 8, 0),
            (piece + 40 * 20 + 1024 * 8, 40),
            (piece + 300 * 20 + 2048 * 8, 300),
        ] {
            let mut pipe = super::Pipeline::new(
                Arc::new(m.clone()),
                thread_pool(2).unwrap_or_else(|e| panic!("{e}")),
            )
            .with_memo(4, budget);
            let mut got = Vec::new();
            for (i, b) in stream.chunks(700).enumerate() {
                let batch = Rows::from_rows(4, b).unwrap_or_else(|e| panic!("{e}"));
                got.extend(pipe.submit(i, batch));
            }
            assert_eq!(pipe.memo_rows(), held);
            got.extend(pipe.finish());
            let scores: Vec<f64> = got
                .into_iter()
                .flat_map(|(_, _, sc)| sc.unwrap_or_default())
                .collect();
            assert_eq!(scores, want, "memo of {budget} bytes");
        }
        let bad = vec![vec![Value::Num(1.0)]];
        assert!(matches!(
            m.score_batch(&bad, &p2),
            Err(CoreError::RowMismatch(_))
        ));
    }
}
