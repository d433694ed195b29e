// Package pg connects OpenDEMS to PostgreSQL through pgx/v5 and owns the
// schema: SQL migrations embedded from migrations/*.sql, applied in name
// order (each in its own transaction, recorded in opendems_migrations) and
// then river's own migrations, all under one advisory lock so several demsd
// processes starting together migrate once.
//
// Open fails with a clear message when the database is unreachable or the
// credentials are wrong, so a server never starts half-working. Subpackage
// pgtest gives each test a fresh, migrated database.
package pg
