// dbapp is the fixture app of the add-on tests: it keeps rows in the
// PostgreSQL of DATABASE_URL and keys in the Redis of REDIS_URL. Its
// release command (dbapp migrate) creates its table, and runs
// MIGRATION_SQL after it in the same transaction, so that a test can make
// a migration fail.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx := context.Background()
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		if err := migrate(ctx); err != nil {
			log.Fatalf("migration failed: %v", err)
		}
		return
	}
	var db *pgxpool.Pool
	if u := os.Getenv("DATABASE_URL"); u != "" {
		var err error
		if db, err = pgxpool.New(ctx, u); err != nil {
			log.Fatal(err)
		}
	}
	var rdb *redis.Client
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			log.Fatal(err)
		}
		rdb = redis.NewClient(opt)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		if db == nil {
			http.Error(w, "no DATABASE_URL", http.StatusServiceUnavailable)
			return
		}
		if _, err := db.Exec(r.Context(), "INSERT INTO items (v) VALUES ($1)", r.URL.Query().Get("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		if db == nil {
			http.Error(w, "no DATABASE_URL", http.StatusServiceUnavailable)
			return
		}
		rows, err := db.Query(r.Context(), "SELECT v FROM items WHERE v NOT LIKE 'load-%' ORDER BY id")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		var vs []string
		for rows.Next() {
			var v string
			rows.Scan(&v)
			vs = append(vs, v)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, strings.Join(vs, ","))
	})
	mux.HandleFunc("POST /kv/{k}", func(w http.ResponseWriter, r *http.Request) {
		if rdb == nil {
			http.Error(w, "no REDIS_URL", http.StatusServiceUnavailable)
			return
		}
		if err := rdb.Set(r.Context(), r.PathValue("k"), r.URL.Query().Get("v"), 0).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /kv/{k}", func(w http.ResponseWriter, r *http.Request) {
		if rdb == nil {
			http.Error(w, "no REDIS_URL", http.StatusServiceUnavailable)
			return
		}
		v, err := rdb.Get(r.Context(), r.PathValue("k")).Result()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, v)
	})
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// migrate creates the table, then runs MIGRATION_SQL, in one transaction:
// a migration that fails changes nothing.
func migrate(ctx context.Context) error {
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		fmt.Println("no DATABASE_URL: nothing to migrate")
		return nil
	}
	db, err := pgxpool.New(ctx, u)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, v text NOT NULL)"); err != nil {
		return err
	}
	if m := os.Getenv("MIGRATION_SQL"); m != "" {
		if _, err := tx.Exec(ctx, m); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	fmt.Println("migrated")
	return nil
}
