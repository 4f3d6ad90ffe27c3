-- ssad 0.2.0 -> 0.3.0: nobody writes the model catalog directly.
-- Before, every role could INSERT, UPDATE and DELETE rows of ssad.models and
-- ssad.model_grants under row-level security, which checked the row's owner
-- but not what the row became: a role could rename, renumber or deactivate
-- its own rows onto another role's model name and take it over, or delete its
-- model's rows and leave a grant behind for the next model of that name.
-- Writes are now the catalog owner's alone; ssad's functions check who may
-- change a model and write as that owner.
\echo Use "ALTER EXTENSION ssad UPDATE TO '0.3.0'" to load this file. \quit

DROP POLICY models_insert ON ssad.models;
DROP POLICY models_update ON ssad.models;
DROP POLICY models_delete ON ssad.models;
DROP POLICY grants_write ON ssad.model_grants;
REVOKE ALL ON ssad.models, ssad.model_grants FROM PUBLIC;
REVOKE ALL ON SEQUENCE ssad.models_id_seq FROM PUBLIC;
GRANT SELECT ON ssad.models, ssad.model_grants TO PUBLIC;

-- Grants whose model no longer exists (left by a direct DELETE) would be
-- inherited by the next model of that name: they go.
DELETE FROM ssad.model_grants g
 WHERE NOT EXISTS (SELECT 1 FROM ssad.models m WHERE m.name = g.name);

-- The training option clean (one-class mode) joins ssad_train's comment.
COMMENT ON FUNCTION ssad_train(text, regclass, text[], text[], jsonb) IS
  'Train a masked-column anomaly model on a table or view and make it the active version of model_name. Options (jsonb): epochs, hidden, mask_rate, seed, sample_size, threads, contamination, distill, clean.';
