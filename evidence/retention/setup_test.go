package retention_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/evidence/retention"
	"github.com/opendems/opendems/evidence/review"
	"github.com/opendems/opendems/policy"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// clock is the service's clock; tests move it past grace periods. Storage
// keeps the real clock, so a storage lock is a real lock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bundle is one test's world: a fresh database, a store, the default
// policy files, a service and an agency with two units.
type bundle struct {
	t        *testing.T
	db       *pgtest.DB
	store    storage.Backend
	svc      *retention.Service
	clock    *clock
	access   *policy.Access
	ids      *identity.Store
	evidence *evidence.Store
	units    map[string]identity.Unit
	users    map[string]identity.User
	audited  *auditLog
}

// auditLog collects the audit events the service records.
type auditLog struct {
	mu     sync.Mutex
	events []api.AuditEvent
}

func (l *auditLog) Audit(_ context.Context, e api.AuditEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *auditLog) list() []api.AuditEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]api.AuditEvent(nil), l.events...)
}

const grace = 7 * 24 * time.Hour

var cheap = identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func fsStore(t *testing.T) storage.Backend {
	st, err := fs.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func s3Store(t *testing.T) storage.Backend {
	env := storagetest.S3Env(t)
	st, err := s3.New(s3.Config{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey,
		Bucket: env.Bucket, RetentionMode: s3.Governance, PartSize: storage.MinPartSize, Buffers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// backends are the stores the lock-mirroring tests run against.
var backends = []struct {
	name string
	open func(*testing.T) storage.Backend
}{{"fs", fsStore}, {"s3", s3Store}}

func defaultPolicy(t *testing.T) (*policy.Schedule, *policy.Purge, *policy.Access) {
	t.Helper()
	sched, err := policy.ParseSchedule(policyconf.Retention())
	if err != nil {
		t.Fatal(err)
	}
	purge, err := policy.NewPurge(policy.Files{ModelName: policyconf.PurgeModelName, Model: policyconf.PurgeModel(),
		PolicyName: policyconf.PurgePolicyName, Policy: policyconf.PurgePolicy()}, sched)
	if err != nil {
		t.Fatal(err)
	}
	access, err := policy.NewAccess(policy.StaticSource{ModelName: policyconf.AccessModelName, Model: policyconf.AccessModel(),
		PolicyName: policyconf.AccessPolicyName, Policy: policyconf.AccessPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	return sched, purge, access
}

func setup(t *testing.T, store storage.Backend) *bundle {
	t.Helper()
	b := &bundle{t: t, db: pgtest.NewDB(t), store: store, clock: &clock{t: time.Now().UTC()},
		units: map[string]identity.Unit{}, users: map[string]identity.User{}, audited: &auditLog{}}
	sched, purge, access := defaultPolicy(t)
	b.access = access
	b.ids = identity.NewStore(b.db.Pool).WithArgon2(cheap)
	b.evidence = evidence.NewStore(b.db.Pool)
	svc, err := retention.New(retention.Config{Pool: b.db.Pool, Storage: store, Schedule: sched, Purge: purge,
		ScheduleVersion: "test-v1", ScheduleSource: policyconf.RetentionName, PurgeGrace: grace,
		Identity: b.ids, Evidence: b.evidence, Auditor: b.audited, Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.svc = svc
	ctx := t.Context()
	for _, u := range [][2]string{{"hq", ""}, {"north", "hq"}, {"south", "hq"}} {
		unit, err := b.ids.CreateUnit(ctx, u[0], u[0], u[1])
		if err != nil {
			t.Fatal(err)
		}
		b.units[u[0]] = unit
	}
	for _, nu := range []identity.NewUser{
		{Username: "officer.north", Role: "officer", Unit: "north", Badge: "N1"},
		{Username: "sgt.north", Role: "supervisor", Unit: "north", Badge: "N2"},
		{Username: "sgt.south", Role: "supervisor", Unit: "south", Badge: "S2"},
		{Username: "records", Role: "records", Unit: "hq", Badge: "R1"},
		{Username: "auditor", Role: "auditor", Unit: "hq", Badge: "A1"},
		{Username: "admin", Role: "admin", Unit: "hq", Badge: "A2"},
	} {
		nu.Password = "correct horse battery staple"
		u, err := b.ids.CreateUser(ctx, nu)
		if err != nil {
			t.Fatal(err)
		}
		b.users[nu.Username] = u
	}
	return b
}

func (b *bundle) principal(name string) identity.Principal {
	u, ok := b.users[name]
	if !ok {
		b.t.Fatalf("no user %s", name)
	}
	return u.Principal("test")
}

// item is a test evidence item with its original's bytes.
type item struct {
	ID   uuid.UUID
	Data []byte
	Ref  storage.Ref
}

// newItem stores random bytes as an original (unlocked, as ingest leaves
// it when no retention is configured) and inserts the item and object rows.
func (b *bundle) newItem(unit, officer string, recorded time.Time, cats ...string) item {
	b.t.Helper()
	ctx := b.t.Context()
	data := make([]byte, 2048)
	rand.Read(data)
	ref := storage.Ref{Namespace: storage.Originals, Digest: sha256.Sum256(data)}
	if _, err := b.store.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		b.t.Fatal(err)
	}
	if len(cats) == 0 {
		cats = []string{"uncategorized"}
	}
	var id uuid.UUID
	err := b.db.Pool.QueryRow(ctx, `WITH o AS (INSERT INTO objects (namespace, sha256, size, backend) VALUES ('originals', $1, $2, 'test'))
		INSERT INTO evidence_items (sha256, size, state, category, categories, recorded_at, unit_id, officer_id)
		VALUES ($1, $2, 'ready', $3, $4, $5, $6, $7) RETURNING id`,
		ref.Digest[:], len(data), cats[0], cats, recorded, b.units[unit].ID, officer).Scan(&id)
	if err != nil {
		b.t.Fatal(err)
	}
	return item{ID: id, Data: data, Ref: ref}
}

// addDerivative stores bytes as a derivative of it.
func (b *bundle) addDerivative(it item, kind string, data []byte) storage.Ref {
	b.t.Helper()
	ctx := b.t.Context()
	ref := storage.Ref{Namespace: storage.Derivatives, Digest: sha256.Sum256(data)}
	if _, err := b.store.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO objects (namespace, sha256, size, backend) VALUES ('derivatives', $1, $2, 'test')
		ON CONFLICT DO NOTHING`, ref.Digest[:], len(data)); err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO evidence_derivatives (evidence_id, kind, sha256, size, source_sha256)
		VALUES ($1, $2, $3, $4, $5)`, it.ID, kind, ref.Digest[:], len(data), it.Ref.Digest[:]); err != nil {
		b.t.Fatal(err)
	}
	return ref
}

func (b *bundle) newCase(unit, number string, items ...item) uuid.UUID {
	b.t.Helper()
	ctx := b.t.Context()
	var id uuid.UUID
	if err := b.db.Pool.QueryRow(ctx, `INSERT INTO cases (number, unit_id) VALUES ($1, $2) RETURNING id`, number, b.units[unit].ID).Scan(&id); err != nil {
		b.t.Fatal(err)
	}
	for _, it := range items {
		if _, err := b.db.Pool.Exec(ctx, `INSERT INTO case_items (case_id, evidence_id) VALUES ($1, $2)`, id, it.ID); err != nil {
			b.t.Fatal(err)
		}
	}
	return id
}

// stat returns the object, failing the test on errors other than absence.
func (b *bundle) stat(ref storage.Ref) (storage.Object, bool) {
	b.t.Helper()
	o, err := b.store.Stat(b.t.Context(), ref)
	if errors.Is(err, storage.ErrNotFound) {
		return o, false
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return o, true
}

func (b *bundle) itemState(id uuid.UUID) (state string, until *time.Time, indefinite, hold bool) {
	b.t.Helper()
	if err := b.db.Pool.QueryRow(b.t.Context(), `SELECT state, retain_until, retention_indefinite, legal_hold FROM evidence_items WHERE id = $1`, id).
		Scan(&state, &until, &indefinite, &hold); err != nil {
		b.t.Fatal(err)
	}
	return
}

func (b *bundle) events(id uuid.UUID) []custody.Event {
	b.t.Helper()
	evs, err := custody.Events(b.t.Context(), b.db.Pool, id)
	if err != nil {
		b.t.Fatal(err)
	}
	return evs
}

func countActions(evs []custody.Event, a custody.Action) int {
	n := 0
	for _, e := range evs {
		if e.Action == a {
			n++
		}
	}
	return n
}

// authorizer is the API's view of the real casbin policy (the same
// translation cmd/demsd wires).
type authorizer struct{ a *policy.Access }

func subject(p identity.Principal) policy.Subject {
	kind := policy.KindUser
	if p.Kind == identity.KindDock {
		kind = policy.KindDock
	}
	return policy.Subject{ID: p.ID.String(), Kind: kind, Role: policy.Role(p.Role), UnitPath: p.UnitPath, Badge: p.Badge, Groups: p.Groups}
}

func resource(a *evidence.Attributes) policy.Resource {
	return policy.Resource{Kind: a.Kind, ID: a.ID, UnitPath: a.UnitPath, OfficerID: a.OfficerID, Categories: a.Categories, Restricted: a.Restricted}
}

func (z authorizer) Authorize(_ context.Context, p identity.Principal, action string, res *evidence.Attributes) api.Decision {
	var d policy.Decision
	var err error
	if res == nil {
		d, err = z.a.RouteDecision(subject(p), policy.Action(action))
	} else {
		d, err = z.a.Decide(subject(p), policy.Action(action), resource(res))
	}
	return api.Decision{Allowed: err == nil && d.Allowed, Rule: d.Rule, Reason: d.Reason}
}

func (z authorizer) Explain(_ context.Context, p identity.Principal, action string, res *evidence.Attributes) (any, error) {
	var r *policy.Resource
	if res != nil {
		pr := resource(res)
		r = &pr
	}
	ex, err := z.a.Explain(subject(p), policy.Action(action), r)
	if errors.Is(err, policy.ErrInvalidSubject) || errors.Is(err, policy.ErrInvalidResource) {
		return nil, evidence.E(evidence.ErrInvalid, "", err.Error(), nil)
	}
	return ex, err
}

func (z authorizer) ListScope(context.Context, identity.Principal) evidence.Scope {
	return evidence.Scope{}
}

// server serves the API with the retention routes over the bundle (and
// review's case loader, which the case hold routes need).
func (b *bundle) server() *httptest.Server {
	b.t.Helper()
	srv := api.New(api.Deps{DB: b.db.Pool, Identity: b.ids, Evidence: b.evidence, Storage: b.store, Authorizer: authorizer{b.access}, Auditor: b.audited})
	srv.RegisterLoader(api.KindCase, review.New(review.Deps{Pool: b.db.Pool, Storage: b.store, Evidence: b.evidence}).CaseLoader())
	srv.Mount(b.svc.Routes()...)
	hs := httptest.NewServer(srv)
	b.t.Cleanup(hs.Close)
	return hs
}

func (b *bundle) token(user string) string {
	b.t.Helper()
	tok, _, err := b.ids.CreateAPIToken(b.t.Context(), b.users[user].ID, "test", nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return tok
}

// call does one API request and decodes the JSON answer.
func call(t *testing.T, base, token, method, path, body string) (int, map[string]any, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}
