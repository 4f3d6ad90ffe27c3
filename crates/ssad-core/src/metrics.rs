//! Ranking metrics for evaluation against labels: AUROC (ties averaged) and
//! AUPRC as average precision.

/// Area under the ROC curve; None when one class is empty.
pub fn auroc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Mann-Whitney U with mid-ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum += mid;
            }
        }
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// Average precision (area under the precision-recall curve, step-wise); ties
/// are broken pessimistically so that a constant score earns no credit.
pub fn auprc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    // Descending score; among ties negatives first (pessimistic).
    idx.sort_by(|&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then(labels[a].cmp(&labels[b]))
    });
    let (mut tp, mut ap) = (0usize, 0.0);
    for (i, &k) in idx.iter().enumerate() {
        if labels[k] {
            tp += 1;
            ap += tp as f64 / (i + 1) as f64;
        }
    }
    Some(ap / pos as f64)
}

/// Precision among the `k` highest scores.
pub fn precision_at(scores: &[f64], labels: &[bool], k: usize) -> Option<f64> {
    if k == 0 || scores.is_empty() {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let k = k.min(idx.len());
    Some(idx[..k].iter().filter(|&&i| labels[i]).count() as f64 / k as f64)
}

/// Average ranks (1-based; ties share their mean rank).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]].total_cmp(&v[idx[i]]).is_eq() {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation of two equally long score lists (NaN if either is constant).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return f64::NAN;
    }
    let (ra, rb) = (ranks(&a[..n]), ranks(&b[..n]));
    let m = (n as f64 + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - m) * (y - m);
        saa += (x - m) * (x - m);
        sbb += (y - m) * (y - m);
    }
    sab / (saa * sbb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_monotone_and_reversed() {
        let a = [1.0, 2.0, 3.0, 4.0, 10.0];
        let b = [0.1, 0.2, 0.2, 5.0, 6.0];
        assert!(spearman(&a, &a.map(|x: f64| x.exp())) > 0.999_999);
        assert!(spearman(&a, &a.map(|x| -x)) < -0.999_999);
        let r = spearman(&a, &b);
        assert!(r > 0.9 && r < 1.0, "{r}");
    }

    #[test]
    fn perfect_and_inverted() {
        let s = [0.1, 0.2, 0.8, 0.9];
        let l = [false, false, true, true];
        assert_eq!(auroc(&s, &l), Some(1.0));
        assert_eq!(auprc(&s, &l), Some(1.0));
        let inv = [true, true, false, false];
        assert_eq!(auroc(&s, &inv), Some(0.0));
        assert_eq!(precision_at(&s, &l, 2), Some(1.0));
    }

    #[test]
    fn ties_give_half() {
        let s = [1.0; 6];
        let l = [true, false, true, false, false, false];
        assert_eq!(auroc(&s, &l), Some(0.5));
        assert!(auprc(&s, &l).unwrap_or(1.0) < 0.34);
    }

    #[test]
    fn one_class_is_none() {
        assert_eq!(auroc(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(auprc(&[1.0, 2.0], &[false, false]), None);
    }

    #[test]
    fn matches_pairwise_definition() {
        let s = [0.3, 0.1, 0.7, 0.7, 0.2, 0.9, 0.5];
        let l = [false, true, true, false, false, true, false];
        let mut num = 0.0;
        let mut den = 0.0;
        for i in 0..s.len() {
            for j in 0..s.len() {
                if l[i] && !l[j] {
                    den += 1.0;
                    num += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let a = auroc(&s, &l).unwrap_or(-1.0);
        assert!((a - num / den).abs() < 1e-12);
    }
}
