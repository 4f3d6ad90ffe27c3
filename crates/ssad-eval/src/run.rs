//! One evaluation job: train ssad-core with default options on a table (or a
//! split of it) and score the evaluation rows. The label never reaches `train`.
//! Protocol B's training rows are all normal, so its jobs train with `clean`
//! (the one-class mode) unless the options set it.
use std::sync::atomic::{AtomicBool, Ordering};

use crate::data::Table;
use ssad_core::reservoir::Reservoir;
use ssad_core::rng::Rng;
use ssad_core::train::DEFAULT_SAMPLE_SIZE;
use ssad_core::{metrics, thread_pool, train, ColumnSpec, TrainOptions, Value};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Unsupervised: train on all rows, score all rows.
    A,
    /// One-class: train on half of the normal rows (split seed), test on the rest.
    B(u64),
}

pub struct Outcome {
    pub table: usize,
    pub protocol: Protocol,
    pub auroc: f64,
    pub auprc: f64,
    pub train_rows: usize,
    pub scored_rows: usize,
    pub train_s: f64,
    pub score_s: f64,
    /// Scoring cost of one row (see `flops_per_row`).
    pub flops: f64,
    /// `--sweep` only: (variant, auroc, auprc).
    pub variants: Vec<(&'static str, f64, f64)>,
    /// `--teacher` only, for a model with a student.
    pub teacher: Option<TeacherOutcome>,
}

/// `--teacher`: the model scored with its exact network (student removed).
pub struct TeacherOutcome {
    pub auroc: f64,
    pub auprc: f64,
    /// Rank correlation of the default (hybrid) scores with the teacher's.
    pub spearman: f64,
    pub flops: f64,
}

/// Train rows and evaluation rows (indices into the table) of a protocol.
fn split(t: &Table, p: Protocol) -> (Vec<usize>, Vec<usize>) {
    match p {
        Protocol::A => ((0..t.rows.len()).collect(), (0..t.rows.len()).collect()),
        Protocol::B(seed) => {
            let mut normal: Vec<usize> = (0..t.rows.len()).filter(|&i| !t.labels[i]).collect();
            Rng::new(seed).shuffle(&mut normal);
            let half = normal.len() / 2;
            let train_idx = normal[..half].to_vec();
            let mut eval: Vec<usize> = normal[half..].to_vec();
            eval.extend((0..t.rows.len()).filter(|&i| t.labels[i]));
            eval.sort_unstable();
            (train_idx, eval)
        }
    }
}

pub fn run(
    t: &Table,
    table: usize,
    p: Protocol,
    opts: &TrainOptions,
    sweep: bool,
    compare_teacher: bool,
) -> Result<Outcome, String> {
    let (train_idx, eval_idx) = split(t, p);
    let opts = &match p {
        Protocol::B(_) if opts.clean.is_none() => TrainOptions {
            clean: Some(true),
            ..opts.clone()
        },
        _ => opts.clone(),
    };
    // Sample as the extension does: a seeded reservoir over the rows in table order.
    let seed = opts.seed.unwrap_or(ssad_core::options::DEFAULT_SEED);
    let cap = opts.sample_size.unwrap_or(DEFAULT_SAMPLE_SIZE) as usize;
    let mut res = Reservoir::new(cap, seed);
    for &i in &train_idx {
        res.offer(i);
    }
    let mut sample_idx = res.into_items();
    sample_idx.sort_unstable();
    let sample: Vec<Vec<Value<'static>>> = sample_idx.iter().map(|&i| t.rows[i].clone()).collect();
    let specs = ColumnSpec::numbered("f", t.n_features);
    let pool = thread_pool(1).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let (model, _report) = train(&specs, &sample, opts, &pool, &mut |_| true)
        .map_err(|e| format!("{}: {e}", t.name))?;
    let train_s = t0.elapsed().as_secs_f64();
    let model = if F16_WEIGHTS.load(Ordering::Relaxed) {
        to_f16_and_back(model)
    } else {
        model
    };
    // Score in the model's column order (constant columns were dropped).
    let keep: Vec<usize> = model
        .columns
        .iter()
        .filter_map(|c| specs.iter().position(|s| s.name == c.name))
        .collect();
    // The batch path (as top-k and evaluate score): the same bits as one row at a time.
    let rows: Vec<Vec<Value<'static>>> = eval_idx
        .iter()
        .map(|&i| keep.iter().map(|&c| t.rows[i][c].clone()).collect())
        .collect();
    let t1 = Instant::now();
    let scores = model.score_batch(&rows, &pool).map_err(|e| e.to_string())?;
    let score_s = t1.elapsed().as_secs_f64();
    let labels: Vec<bool> = eval_idx.iter().map(|&i| t.labels[i]).collect();
    // `--teacher`: the same model scored with its exact network instead of the student.
    let teacher = if compare_teacher && model.student.is_some() {
        let exact = ssad_core::Model {
            student: None,
            ..model.clone()
        };
        let sc = exact.score_batch(&rows, &pool).map_err(|e| e.to_string())?;
        Some(TeacherOutcome {
            auroc: metrics::auroc(&sc, &labels).unwrap_or(f64::NAN),
            auprc: metrics::auprc(&sc, &labels).unwrap_or(f64::NAN),
            spearman: metrics::spearman(&sc, &scores),
            flops: flops_per_row(&exact),
        })
    } else {
        None
    };
    let variants = if sweep {
        let proj = |i: usize| -> Vec<Value<'static>> {
            keep.iter().map(|&c| t.rows[i][c].clone()).collect()
        };
        let sample_p: Vec<_> = sample_idx.iter().map(|&i| proj(i)).collect();
        let eval_p: Vec<_> = eval_idx.iter().map(|&i| proj(i)).collect();
        crate::sweep::sweep(&model, &sample_p, &eval_p, &labels)
    } else {
        Vec::new()
    };
    Ok(Outcome {
        teacher,
        flops: flops_per_row(&model),
        variants,
        table,
        protocol: p,
        auroc: metrics::auroc(&scores, &labels).unwrap_or(f64::NAN),
        auprc: metrics::auprc(&scores, &labels).unwrap_or(f64::NAN),
        train_rows: sample.len(),
        scored_rows: eval_idx.len(),
        train_s,
        score_s,
    })
}

/// `--f16`: score with the network's weights rounded through IEEE half
/// precision, to measure whether storing them as f16 holds accuracy.
pub static F16_WEIGHTS: AtomicBool = AtomicBool::new(false);

fn to_f16_and_back(mut m: ssad_core::Model) -> ssad_core::Model {
    for l in &mut m.net.layers {
        for v in l.w.iter_mut().chain(l.b.iter_mut()) {
            *v = half::f16::from_f32(*v).to_f32();
        }
    }
    m
}

/// Floating-point operations to score one row. With a student: its forward
/// pass (2 in x out per layer). Without: the first layer once per row
/// (2 n_values h1) plus each column's hiding correction (2 n_values h1 + d h1),
/// then per mask the k correction additions and the dense upper layers. Both
/// plus the kNN scan (3 d per reference row) and the linear term (2 d^2). Lookups and
/// activations not counted.
pub fn flops_per_row(m: &ssad_core::Model) -> f64 {
    let d = m.n_columns() as f64;
    let knn = if m.knn_weight > 0.0 {
        3.0 * d * m.reference.n_rows() as f64
    } else {
        0.0
    } + m.linear.as_ref().map_or(0.0, |l| l.flops_per_row());
    if let Some(st) = &m.student {
        return st.flops_per_row() + knn;
    }
    let l = m.layout();
    let layers = &m.net.layers;
    let h1 = layers[0].n_out as f64;
    let mut f = 4.0 * l.n_values as f64 * h1 + d * h1;
    let upper: f64 = layers[1..]
        .iter()
        .map(|x| 2.0 * (x.n_in * x.n_out) as f64)
        .sum();
    for mask in &m.masks {
        f += mask.len() as f64 * h1 + upper;
    }
    f + knn
}
