package ingest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// DefaultChunkSize is the chunk size when Config.ChunkSize is zero: large
// enough that a 10 GiB recording needs 640 parts (S3 allows 10,000), small
// enough that an interrupted chunk costs seconds to resend.
const DefaultChunkSize = 16 << 20

// DefaultSessionMaxAge is how long a session may sit idle before it is
// refused and cleaned up: long enough to ride out a server or network
// outage of days.
const DefaultSessionMaxAge = 7 * 24 * time.Hour

// CommitHook runs inside the commit transaction of every new item (not of
// a duplicate upload), so the work it enqueues exists exactly when the
// item does; an error aborts the commit. cmd/demsd wires it to enqueue
// the transcode job and the item's retention computation (river InsertTx),
// which keeps this package free of FFmpeg and of the job kinds.
type CommitHook func(ctx context.Context, tx pgx.Tx, evidenceID uuid.UUID) error

// CustodyEvent is an event ingest appends to an item's chain of custody.
type CustodyEvent struct {
	EvidenceID uuid.UUID
	Action     string // chain.ActionIngested or chain.ActionDuplicateUpload
	ActorKind  identity.Kind
	ActorID    uuid.UUID
	Actor      string // e.g. "dock:station-3"
	At         time.Time
	Details    map[string]any
}

// Custody appends custody events inside the caller's transaction, so the
// first event commits with the item (or neither does).
type Custody interface {
	AppendTx(ctx context.Context, tx pgx.Tx, ev CustodyEvent) error
}

// CustodyFunc adapts a function to Custody.
type CustodyFunc func(ctx context.Context, tx pgx.Tx, ev CustodyEvent) error

// AppendTx implements Custody.
func (f CustodyFunc) AppendTx(ctx context.Context, tx pgx.Tx, ev CustodyEvent) error {
	return f(ctx, tx, ev)
}

// ChainCustody appends to the hash-chained custody log of package custody:
// the production Custody, used when Config.Custody is nil.
type ChainCustody struct{}

// AppendTx implements Custody with custody.Append.
func (ChainCustody) AppendTx(ctx context.Context, tx pgx.Tx, ev CustodyEvent) error {
	_, err := custody.Append(ctx, tx, custody.NewEvent{
		EvidenceID: ev.EvidenceID, Actor: ev.Actor, Action: custody.Action(ev.Action),
		Details: ev.Details, Time: ev.At,
	})
	return err
}

// Config wires a Service. Pool, Storage and ReceiptKey are required;
// Custody nil means ChainCustody; zero limits take the defaults.
type Config struct {
	Pool    *pgxpool.Pool
	Storage storage.Backend
	// OnCommit runs in the transaction that commits each new item (nil:
	// nothing more is enqueued).
	OnCommit   CommitHook
	Custody    Custody
	ReceiptKey ed25519.PrivateKey
	// Policy checks attribution and duplicate visibility (see
	// UploadPolicy); nil checks neither.
	Policy UploadPolicy

	// ChunkSize is the fixed size of every chunk but the last (default
	// DefaultChunkSize; at least storage.MinPartSize).
	ChunkSize int64
	// MaxFileSize refuses larger uploads (default: ChunkSize × wire.MaxParts).
	MaxFileSize int64
	// SessionMaxAge refuses a session idle for longer (default
	// DefaultSessionMaxAge); CleanupAbandoned removes such sessions.
	SessionMaxAge time.Duration
	// ChunkStreams bounds how many chunk bodies stream through this
	// process at once (default DefaultChunkStreams); more wait, before
	// reading their body, for one to finish.
	ChunkStreams int
	// CommitWorkers bounds how many commits (storage verification and
	// completion, then the item's transaction) run at once in this process
	// (default DefaultCommitWorkers); more wait for a slot.
	CommitWorkers int
	// RetainFor, when set, locks each original for that long from upload.
	RetainFor time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives operational messages (default slog.Default()).
	Logger *slog.Logger
}

// Validate checks the configuration and names the bad field.
func (c Config) Validate() error {
	switch {
	case c.Pool == nil:
		return errors.New("ingest config: Pool is required")
	case c.Storage == nil:
		return errors.New("ingest config: Storage is required")
	case len(c.ReceiptKey) != ed25519.PrivateKeySize:
		return fmt.Errorf("ingest config: ReceiptKey: %d bytes, want an Ed25519 private key (%d)", len(c.ReceiptKey), ed25519.PrivateKeySize)
	case c.ChunkSize != 0 && c.ChunkSize < storage.MinPartSize:
		return fmt.Errorf("ingest config: ChunkSize %d is below storage.MinPartSize (%d)", c.ChunkSize, storage.MinPartSize)
	case c.ChunkSize > 5<<30:
		return fmt.Errorf("ingest config: ChunkSize %d is above 5 GiB, S3's part limit", c.ChunkSize)
	case c.MaxFileSize < 0:
		return fmt.Errorf("ingest config: MaxFileSize %d is negative", c.MaxFileSize)
	case c.SessionMaxAge < 0:
		return fmt.Errorf("ingest config: SessionMaxAge %v is negative", c.SessionMaxAge)
	case c.ChunkStreams < 0:
		return fmt.Errorf("ingest config: ChunkStreams %d is negative", c.ChunkStreams)
	case c.CommitWorkers < 0:
		return fmt.Errorf("ingest config: CommitWorkers %d is negative", c.CommitWorkers)
	case c.RetainFor < 0:
		return fmt.Errorf("ingest config: RetainFor %v is negative", c.RetainFor)
	}
	return nil
}

// Service is the server side of ingest. It is safe for concurrent use;
// several Services (processes) may share one database and store.
type Service struct {
	cfg Config
	pub ed25519.PublicKey

	mu   sync.Mutex
	busy map[uuid.UUID]bool // sessions with a chunk or commit in flight here

	workers    chan struct{}  // one token per running commit (CommitWorkers)
	commitTx   chan struct{}  // one token per commit transaction open (commitTxSlots)
	streams    chan struct{}  // one token per chunk body streaming (ChunkStreams)
	background sync.WaitGroup // commits started by CommitAsync
}

// NewService checks cfg, fills defaults and returns the service.
func NewService(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Custody == nil {
		cfg.Custody = ChainCustody{}
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if max := cfg.ChunkSize * wire.MaxParts; cfg.MaxFileSize == 0 || cfg.MaxFileSize > max {
		cfg.MaxFileSize = max
	}
	if cfg.SessionMaxAge == 0 {
		cfg.SessionMaxAge = DefaultSessionMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ChunkStreams == 0 {
		cfg.ChunkStreams = DefaultChunkStreams()
	}
	if cfg.CommitWorkers == 0 {
		cfg.CommitWorkers = DefaultCommitWorkers
	}
	return &Service{
		cfg:      cfg,
		pub:      cfg.ReceiptKey.Public().(ed25519.PublicKey),
		busy:     map[uuid.UUID]bool{},
		workers:  make(chan struct{}, cfg.CommitWorkers),
		commitTx: make(chan struct{}, commitTxSlots(cfg.Pool)),
		streams:  make(chan struct{}, cfg.ChunkStreams),
	}, nil
}

// PublicKey is the receipt-verification key docks pin.
func (s *Service) PublicKey() ed25519.PublicKey { return s.pub }

// ChunkSize is the configured chunk size.
func (s *Service) ChunkSize() int64 { return s.cfg.ChunkSize }

// DefaultChunkStreams is ChunkStreams when zero: eight streams per CPU the
// Go runtime uses, at least sixteen. Fifty cameras sending at once do not
// go faster than that on two cores (the bytes are hashed and copied on the
// same CPUs), but fifty runnable copy loops put every control call
// (create, status, commit) behind them in the scheduler's queue. A slot is
// held only while the body streams into storage.
func DefaultChunkStreams() int { return max(16, 8*runtime.GOMAXPROCS(0)) }

// commitTxSlots is how many commit transactions may be open at once: half
// the pool, so that a burst of commits (each holds a connection for a
// dozen statements) never leaves the control calls waiting for one.
func commitTxSlots(pool *pgxpool.Pool) int {
	return max(2, int(pool.Config().MaxConns)/2)
}

// acquire marks a session busy in this process; the returned func releases
// it. Concurrent requests on one session are refused rather than queued:
// the client's retry re-syncs with the durable offset.
func (s *Service) acquire(id uuid.UUID) (func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[id] {
		return nil, false
	}
	s.busy[id] = true
	return func() {
		s.mu.Lock()
		delete(s.busy, id)
		s.mu.Unlock()
	}, true
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }
