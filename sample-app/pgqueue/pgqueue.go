// Package pgqueue keeps the worker's queue and results in PostgreSQL, for
// an app given DATABASE_URL (pier addons create postgres). Without it the
// app keeps them in files (package datadir).
//
//	schema_migrations (version, description, applied_at)
//	jobs    (id, name UNIQUE, text, state queued|claimed|done|failed, created_at, claimed_at)
//	results (job PRIMARY KEY, result jsonb, created_at)
//
// Many workers share one queue: a job is claimed with FOR UPDATE SKIP
// LOCKED, so each goes to one worker, and a claim older than StaleClaim
// (its worker died) goes back to the queue.
package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StaleClaim is how old a claim is before its job is queued again.
const StaleClaim = 10 * time.Minute

// Migration is one step of the schema's history. Each runs in a
// transaction with the version's record: it applies whole or not at all.
// Steps only add (expand); a release that stops using a column drops it
// in a later step (contract), so that the release before keeps working.
type Migration struct {
	Version     int
	Description string
	SQL         string
}

// Migrations are applied in order.
var Migrations = []Migration{
	{1, "create the jobs and results tables", `
CREATE TABLE jobs (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	text       text NOT NULL,
	state      text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'done', 'failed')),
	created_at timestamptz NOT NULL DEFAULT now(),
	claimed_at timestamptz
);
CREATE INDEX jobs_queued ON jobs (id) WHERE state = 'queued';
CREATE TABLE results (
	job        text PRIMARY KEY REFERENCES jobs (name) ON DELETE CASCADE,
	result     jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);`},
}

// Store is the queue and results in one database.
type Store struct{ pool *pgxpool.Pool }

// Open connects to the database at url (DATABASE_URL).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:port/db)")
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to DATABASE_URL's database: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Migrate applies the migrations not applied yet, each in a transaction
// that holds an advisory lock, so that two migrators (two releases'
// release commands, a person) never apply one twice. It returns what it
// did, in words.
func (s *Store) Migrate(ctx context.Context) (string, error) {
	if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return "", fmt.Errorf("creating schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range Migrations {
		done, err := s.apply(ctx, m)
		if err != nil {
			return "", fmt.Errorf("migration %d (%s): %w; nothing of it was applied", m.Version, m.Description, err)
		}
		if done {
			applied = append(applied, fmt.Sprintf("%d: %s", m.Version, m.Description))
		}
	}
	latest := Migrations[len(Migrations)-1].Version
	var newest int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return "", err
	}
	if newest > latest {
		return "", fmt.Errorf("the database is at schema version %d, newer than this release knows (%d): this is a rollback; the newer schema must still suit this release (expand/contract)", newest, latest)
	}
	if len(applied) == 0 {
		return fmt.Sprintf("postgres schema is at version %d; nothing to do", newest), nil
	}
	return fmt.Sprintf("postgres schema upgraded to version %d:\n  %s", newest, strings.Join(applied, "\n  ")), nil
}

func (s *Store) apply(ctx context.Context, m Migration) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7420001)`); err != nil {
		return false, err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, description) VALUES ($1, $2)`, m.Version, m.Description); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// Job is a queued text to analyze.
type Job struct {
	ID   int64
	Name string
	Text string
}

// Enqueue adds a job.
func (s *Store) Enqueue(ctx context.Context, name, text string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO jobs (name, text) VALUES ($1, $2)`, name, text)
	return err
}

// Claim takes the oldest queued job for this worker; ok is false when
// there is none. Claims gone stale are queued again first.
func (s *Store) Claim(ctx context.Context) (j Job, ok bool, err error) {
	if _, err := s.pool.Exec(ctx, `UPDATE jobs SET state = 'queued', claimed_at = NULL
WHERE state = 'claimed' AND claimed_at < now() - $1::interval`, StaleClaim.String()); err != nil {
		return j, false, err
	}
	err = s.pool.QueryRow(ctx, `UPDATE jobs SET state = 'claimed', claimed_at = now()
WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING id, name, text`).Scan(&j.ID, &j.Name, &j.Text)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, false, nil
	}
	return j, err == nil, err
}

// Finish records a job's result (JSON) and marks it done or failed, in
// one transaction.
func (s *Store) Finish(ctx context.Context, j Job, result []byte, failed bool) error {
	state := "done"
	if failed {
		state = "failed"
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO results (job, result) VALUES ($1, $2)
ON CONFLICT (job) DO UPDATE SET result = excluded.result, created_at = now()`, j.Name, result); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET state = $2 WHERE id = $1`, j.ID, state)
		return err
	})
}

// Result returns a job's result (JSON); ok is false while there is none.
func (s *Store) Result(ctx context.Context, name string) (result []byte, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT result FROM results WHERE job = $1`, name).Scan(&result)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return result, err == nil, err
}

// Pending counts the queued jobs.
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE state = 'queued'`).Scan(&n)
	return n, err
}
