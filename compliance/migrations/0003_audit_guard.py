"""Append-only audit tables: a trigger refuses UPDATE, DELETE and TRUNCATE.

Exceptions, both narrow:
- the chainer may fill in `seq`, `prev_hash`, `hash`, `chained_at` of a row that has none
  (every other column must stay equal);
- the retention procedure may delete chained rows at or below the latest *retention
  checkpoint*, and only when it set `compliance.audit_prune = 'on'` in its transaction.

The function lives in `public` (one copy, never dropped with a tenant schema; the pool's
clone copies the trigger that points at it). Tenant schemas get the trigger from this
migration or from the clone of the template schema.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.compliance_audit_guard_v1() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  cut bigint;
  chain_cols text[] := ARRAY['seq', 'prev_hash', 'hash', 'chained_at'];
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'audit log %.% is append-only: TRUNCATE refused', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = '42501';
  END IF;
  IF TG_TABLE_NAME = 'compliance_auditcheckpoint' THEN
    RAISE EXCEPTION 'audit checkpoints are append-only: % refused', TG_OP USING ERRCODE = '42501';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF OLD.hash IS NULL AND OLD.seq IS NULL AND NEW.hash IS NOT NULL AND NEW.seq IS NOT NULL
       AND (to_jsonb(NEW) - chain_cols) = (to_jsonb(OLD) - chain_cols) THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit event % is append-only: UPDATE refused', OLD.id USING ERRCODE = '42501';
  END IF;
  IF coalesce(current_setting('compliance.audit_prune', true), '') = 'on' AND OLD.seq IS NOT NULL THEN
    EXECUTE format('SELECT max(seq) FROM %I.compliance_auditcheckpoint WHERE kind = %L',
                   TG_TABLE_SCHEMA, 'retention') INTO cut;
    IF cut IS NOT NULL AND OLD.seq <= cut THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit event % is append-only: DELETE refused (only retention pruning below a checkpoint)',
    OLD.id USING ERRCODE = '42501';
END
$fn$;
"""

TRIGGERS = """
DROP TRIGGER IF EXISTS compliance_audit_guard ON compliance_auditevent;
CREATE TRIGGER compliance_audit_guard BEFORE UPDATE OR DELETE ON compliance_auditevent
  FOR EACH ROW EXECUTE FUNCTION public.compliance_audit_guard_v1();
DROP TRIGGER IF EXISTS compliance_audit_guard_truncate ON compliance_auditevent;
CREATE TRIGGER compliance_audit_guard_truncate BEFORE TRUNCATE ON compliance_auditevent
  FOR EACH STATEMENT EXECUTE FUNCTION public.compliance_audit_guard_v1();
DROP TRIGGER IF EXISTS compliance_checkpoint_guard ON compliance_auditcheckpoint;
CREATE TRIGGER compliance_checkpoint_guard BEFORE UPDATE OR DELETE ON compliance_auditcheckpoint
  FOR EACH ROW EXECUTE FUNCTION public.compliance_audit_guard_v1();
DROP TRIGGER IF EXISTS compliance_checkpoint_guard_truncate ON compliance_auditcheckpoint;
CREATE TRIGGER compliance_checkpoint_guard_truncate BEFORE TRUNCATE ON compliance_auditcheckpoint
  FOR EACH STATEMENT EXECUTE FUNCTION public.compliance_audit_guard_v1();
"""

REVERSE = """
DROP TRIGGER IF EXISTS compliance_audit_guard ON compliance_auditevent;
DROP TRIGGER IF EXISTS compliance_audit_guard_truncate ON compliance_auditevent;
DROP TRIGGER IF EXISTS compliance_checkpoint_guard ON compliance_auditcheckpoint;
DROP TRIGGER IF EXISTS compliance_checkpoint_guard_truncate ON compliance_auditcheckpoint;
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_audit_chain")]

    operations = [
        migrations.RunSQL(FUNCTION + TRIGGERS, REVERSE),
    ]
