package statefun

import (
	"fmt"
	"runtime/debug"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"
)

// invoke runs one message through a function as both functions do: a
// message that panicked before is dead-lettered instead of handled; a
// panic in handle becomes an error (the runtime retries the batch, and the
// message is dead-lettered then); the state is saved once, after the last
// message of the batch, if any message of the batch changed it. who names
// the instance in logs and errors ("city", "project P-001").
func (s *Server) invoke(ctx sdk.Context, msg *sdk.Message, b *batch, who string, handle func() bool, save func() error) (err error) {
	key := messageKey(ctx.Self(), msg)
	defer func() {
		if v := recover(); v != nil {
			s.poison(key, v)
			s.log.Error("handling a message panicked; the batch fails and the message is dead-lettered when it comes again",
				"function", who, "type", msg.ValueTypeName().String(), "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s: handling %s panicked: %v", who, msg.ValueTypeName(), v)
		}
	}()
	changed := false
	if reason, ok := s.poisonReason(key); ok {
		s.deadLetter(ctx, msg, ClassPanic, "applying this record panicked, so it was not applied: "+reason)
	} else {
		changed = handle()
	}
	if b != nil {
		b.dirty = b.dirty || changed
		changed = b.dirty
	}
	if b.last() && changed {
		return save()
	}
	return nil
}
