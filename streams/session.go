package streams

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// session is the consumer-group client the poll loop polls, produces its
// outputs through and ends each checkpoint with. Two implementations:
// *kgo.GroupTransactSession (exactly-once, the default: outputs and
// consumed offsets commit in one transaction) and *aloSession
// (EngineConfig.AtLeastOnce: outputs are flushed, then the offsets are
// committed). Both block rebalances from a poll until AllowRebalance, so
// the group callbacks run serially with the poll loop.
type session interface {
	// PollRecords returns at most max records, or every record fetched
	// so far when max <= 0 (and the control records and errors met),
	// blocking until some are fetched, ctx ends or the client closes. A
	// rebalance does not run until AllowRebalance.
	PollRecords(ctx context.Context, max int) kgo.Fetches
	// AllowRebalance lets a rebalance that waits for the poll loop run
	// (its callbacks may run before it returns, or in the next poll).
	AllowRebalance()
	// Begin starts a checkpoint's outputs: a transaction, or nothing. It
	// does not block. It fails when the producer cannot begin one (the
	// broker fenced it, or an earlier End left it in a transaction).
	Begin() error
	// End ends the checkpoint begun by Begin. With kgo.TryCommit it waits
	// until the outputs produced since Begin are written and the offsets
	// of every record polled since the last commit are committed, and
	// reports true; if either cannot happen, or with kgo.TryAbort, it
	// rewinds the consumer to the last committed offsets and reports
	// false. Cancelling ctx gives up (false, an error). Errors are not
	// retryable; an End(TryAbort) after a failed End resets the session.
	End(ctx context.Context, try kgo.TransactionEndTry) (committed bool, err error)
	// Client returns the session's client (to produce, pause and resume
	// fetching); the session owns it.
	Client() *kgo.Client
	// CloseAllowingRebalance closes the client, letting a rebalance that
	// waits for the poll loop run first.
	CloseAllowingRebalance()
}

var (
	_ session = (*kgo.GroupTransactSession)(nil)
	_ session = (*aloSession)(nil)
)

// aloSession is the at-least-once session: a plain group consumer (auto
// commit disabled, rebalances blocked on poll) whose outputs are written
// as they are produced, not in a transaction. End flushes them and then
// commits the polled offsets, so a crash between the two (or before)
// applies the records since the last commit again and writes their
// outputs twice.
type aloSession struct {
	cl *kgo.Client
	// outputsFailed reports whether an output produced since the last End
	// was refused; then End must not commit the offsets past its input.
	outputsFailed func() bool
}

func newALOSession(outputsFailed func() bool, opts ...kgo.Opt) (*aloSession, error) {
	cl, err := kgo.NewClient(append(opts, kgo.DisableAutoCommit())...)
	if err != nil {
		return nil, err
	}
	return &aloSession{cl: cl, outputsFailed: outputsFailed}, nil
}

func (s *aloSession) PollRecords(ctx context.Context, max int) kgo.Fetches {
	return s.cl.PollRecords(ctx, max)
}

func (s *aloSession) AllowRebalance()         { s.cl.AllowRebalance() }
func (s *aloSession) Begin() error            { return nil }
func (s *aloSession) Client() *kgo.Client     { return s.cl }
func (s *aloSession) CloseAllowingRebalance() { s.cl.CloseAllowingRebalance() }

func (s *aloSession) End(ctx context.Context, try kgo.TransactionEndTry) (bool, error) {
	// Outputs already produced cannot be taken back: write them (an abort
	// rewinds the input, so they will be written again).
	if err := s.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("flush outputs: %w", err)
	}
	if try == kgo.TryAbort {
		s.rewind()
		return false, nil
	}
	if s.outputsFailed() {
		// the engine logs the refused output; the work is done again
		s.rewind()
		return false, nil
	}
	if err := s.cl.CommitUncommittedOffsets(ctx); err != nil {
		s.rewind()
		return false, fmt.Errorf("commit offsets: %w", err)
	}
	return true, nil
}

// rewind sets the consumer back to the last committed offsets, as the
// transactional session does after an abort (a partition never committed
// rewinds to offset 0).
func (s *aloSession) rewind() { s.cl.SetOffsets(s.cl.CommittedOffsets()) }
