-- Protect → Assets' "name contains" (`search_text LIKE '%…%'`) reads a trigram index instead of
-- every asset (issue 19's 100,000-asset benchmark). pg_trgm is a trusted extension from
-- PostgreSQL 13 on, so the database owner may create it; where it cannot be created the list
-- still works, only slower, and the migration says so instead of failing.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%); asset name search scans the assets', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS assets_search_trigrams ON assets USING gin (search_text gin_trgm_ops);
    END IF;
END
$$;
