//! The encoder's representation of a row: the last hidden layer's
//! activations for the row with nothing hidden. Rows that the model finds
//! alike sit close together (usable with pgvector for similarity search).

use crate::error::{CoreError, Result};
use crate::model::Model;
use crate::schema::Value;

impl Model {
    /// Width of `embed`'s output.
    pub fn embedding_width(&self) -> usize {
        let n = self.net.layers.len();
        if n >= 2 {
            self.net.layers[n - 2].n_out
        } else {
            0
        }
    }

    /// The row's embedding (values in model column order).
    pub fn embed(&self, row: &[Value<'_>]) -> Result<Vec<f32>> {
        if row.len() != self.columns.len() {
            return Err(CoreError::RowMismatch(format!(
                "expected {} values, got {}",
                self.columns.len(),
                row.len()
            )));
        }
        let layout = self.layout();
        let mut x = vec![0.0f32; layout.n_in];
        for (j, (enc, v)) in self.encoders.iter().zip(row).enumerate() {
            let off = layout.in_off[j];
            enc.encode_input(v, &mut x[off..off + enc.in_width()]);
        }
        let hidden = &self.net.layers[..self.net.layers.len().saturating_sub(1)];
        for layer in hidden {
            let mut y = vec![0.0f32; layer.n_out];
            layer.forward_row(&x, &mut y);
            y.iter_mut().for_each(|v| *v = v.max(0.0));
            x = y;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use crate::rng::Rng;
    use crate::{ColumnSpec, TrainOptions, Value};

    #[test]
    fn embedding_has_hidden_width_and_separates_rows() {
        let specs = ColumnSpec::numbered("c", 3);
        let mut rng = Rng::new(1);
        let rows: Vec<Vec<Value<'static>>> = (0..300)
            .map(|_| {
                let a = rng.normal();
                vec![Value::Num(a), Value::Num(2.0 * a), Value::Num(rng.normal())]
            })
            .collect();
        let opts = TrainOptions {
            epochs: Some(5),
            ..Default::default()
        };
        let m = crate::train::fit_for_test(&specs, &rows, &opts);
        let e0 = m.embed(&rows[0]).unwrap_or_default();
        assert_eq!(e0.len(), m.embedding_width());
        assert!(e0.len() >= 16);
        assert_eq!(m.embed(&rows[0]).unwrap_or_default(), e0);
        assert_ne!(m.embed(&rows[1]).unwrap_or_default(), e0);
        assert!(m.embed(&rows[0][..2]).is_err());
    }
}
