package statefun

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"

	"github.com/sitetwin/sitetwin/twin"
)

// DeadLetter is the value of a record on the dead-letter topic in StateFun
// mode. The Kafka engine writes the record unchanged with the reason in a
// header; StateFun's Kafka egress (KafkaProducerRecord: key, value, topic)
// carries no headers, so the reason and the original value travel together
// in this JSON object, keyed by the function id.
type DeadLetter struct {
	// Error is the reason, the text of the engine's sitetwin-error header.
	Error string `json:"error"`
	// Class is one of the Class constants.
	Class string `json:"class"`
	// Source names where it came from: the function instance and the
	// message's value type, e.g. "sitetwin/project/P-001 sitetwin.types/cloudevent.sensor".
	Source string `json:"source"`
	// Value is the message value unchanged, when it is UTF-8.
	Value string `json:"value,omitempty"`
	// ValueBase64 is the message value unchanged, when it is not UTF-8.
	ValueBase64 []byte `json:"value_base64,omitempty"`
}

// topic returns an output topic's name.
func (s *Server) topic(suffix string) string { return s.cfg.TopicPrefix + "." + suffix }

// egress sends one record to the Kafka egress.
func egress(ctx sdk.Context, topic, key string, value []byte) {
	ctx.SendEgress(sdk.KafkaEgressBuilder{Target: Egress, Topic: topic, Key: key, Value: value})
}

// deadLetter sends a message to the dead-letter topic with its reason.
func (s *Server) deadLetter(ctx sdk.Context, msg *sdk.Message, class, reason string) {
	self := ctx.Self()
	dl := DeadLetter{Error: reason, Class: class, Source: fmt.Sprintf("%s/%s %s", self.FunctionType, self.Id, msg.ValueTypeName())}
	if v := msg.RawValue(); utf8.Valid(v) {
		dl.Value = string(v)
	} else {
		dl.ValueBase64 = v
	}
	b, err := json.Marshal(&dl)
	if err != nil {
		panic(fmt.Errorf("encode dead letter: %w", err)) // strings and bytes always encode
	}
	egress(ctx, s.topic("deadletter"), self.Id, b)
	s.stats.deadLetters.Add(1)
	s.log.Warn("dead letter", "function", self.FunctionType.String(), "id", self.Id, "class", class, "reason", reason)
}

// alerts sends alert records to the alerts topic, keyed by project, as the
// engine writes them.
func (s *Server) alerts(ctx sdk.Context, alerts []twin.Alert) {
	for i := range alerts {
		b, err := json.Marshal(&alerts[i])
		if err != nil {
			panic(fmt.Errorf("encode alert %s: %w", alerts[i].ID, err))
		}
		egress(ctx, s.topic("alerts"), alerts[i].Project, b)
	}
	s.stats.alerts.Add(int64(len(alerts)))
}

// outbound sends requests to outside services to the outbox topic, keyed
// by their idempotency key, as the engine writes them.
func (s *Server) outbound(ctx sdk.Context, out []twin.Outbound) {
	for i := range out {
		b, err := json.Marshal(&out[i])
		if err != nil {
			panic(fmt.Errorf("encode outbound %s: %w", out[i].Key, err))
		}
		egress(ctx, s.topic("outbox"), out[i].Key, b)
	}
}

// send sends raw bytes of a type to a function instance.
func send(ctx sdk.Context, fnType sdk.TypeName, id string, t sdk.SimpleType, value []byte) {
	ctx.Send(sdk.MessageBuilder{Target: sdk.Address{FunctionType: fnType, Id: id}, Value: value, ValueType: t})
}
