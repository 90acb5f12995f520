package statefun_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The request-reply protocol, encoded and decoded by hand with the field
// numbers of the SDK's request-reply.proto and kafka-egress.proto
// (io.statefun.sdk.reqreply, v3.3.0), pinned here: the SDK's generated
// package is internal, and a test that shares the SDK's encoder would not
// notice the SDK and the runtime disagreeing.
const (
	// Address
	fAddrNamespace, fAddrType, fAddrID = 1, 2, 3
	// TypedValue
	fTVTypename, fTVHasValue, fTVValue = 1, 2, 3
	// ToFunction
	fToInvocation = 100
	// ToFunction.InvocationBatchRequest
	fBatchTarget, fBatchState, fBatchInvocations = 1, 2, 3
	// ToFunction.PersistedValue
	fPVName, fPVValue = 1, 2
	// ToFunction.Invocation
	fInvCaller, fInvArgument = 1, 2
	// FromFunction
	fFromResult, fFromIncomplete = 100, 101
	// FromFunction.InvocationResponse
	fRespMutations, fRespMessages, fRespDelayed, fRespEgress = 1, 2, 3, 4
	// FromFunction.PersistedValueMutation
	fMutType, fMutName, fMutValue = 1, 2, 3
	mutDelete, mutModify          = 0, 1
	// FromFunction.Invocation
	fOutTarget, fOutArgument = 1, 2
	// FromFunction.DelayedInvocation
	fDelayMs, fDelayTarget, fDelayArgument, fDelayIsCancel, fDelayToken = 1, 2, 3, 10, 11
	// FromFunction.EgressMessage
	fEgNamespace, fEgType, fEgArgument = 1, 2, 3
	// FromFunction.IncompleteInvocationContext
	fIncMissing = 1
	// FromFunction.PersistedValueSpec
	fSpecName, fSpecExpiration, fSpecTypename = 1, 2, 3
	// KafkaProducerRecord
	fKafkaKey, fKafkaValue, fKafkaTopic = 1, 2, 3
	// typename of a Kafka egress record
	kafkaRecordType = "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord"
)

type address struct{ Namespace, Type, ID string }

func (a address) String() string { return a.Namespace + "/" + a.Type + "/" + a.ID }

type typedValue struct {
	Typename string
	HasValue bool
	Value    []byte
}

type persisted struct {
	Name  string
	Value *typedValue // nil: no value yet
}

type invocation struct {
	Caller *address
	Arg    typedValue
}

type toFunction struct {
	Target      address
	State       []persisted
	Invocations []invocation
}

type mutation struct {
	Type  int
	Name  string
	Value *typedValue
}

type outMessage struct {
	Target address
	Arg    typedValue
}

type delayed struct {
	DelayMs int64
	Target  *address
	Arg     *typedValue
	Cancel  bool
	Token   string
}

type egressMessage struct {
	Namespace, Type string
	Arg             typedValue
}

type missingSpec struct{ Name, Typename string }

type fromFunction struct {
	Missing []missingSpec // IncompleteInvocationContext
	Result  *response     // InvocationResult
}

type response struct {
	Mutations []mutation
	Messages  []outMessage
	Delayed   []delayed
	Egress    []egressMessage
}

type kafkaRecord struct{ Topic, Key, Value string }

func appendMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (a address) encode() []byte {
	var b []byte
	b = appendString(b, fAddrNamespace, a.Namespace)
	b = appendString(b, fAddrType, a.Type)
	return appendString(b, fAddrID, a.ID)
}

func (v typedValue) encode() []byte {
	b := appendString(nil, fTVTypename, v.Typename)
	if v.HasValue {
		b = protowire.AppendTag(b, fTVHasValue, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if len(v.Value) > 0 {
		b = protowire.AppendTag(b, fTVValue, protowire.BytesType)
		b = protowire.AppendBytes(b, v.Value)
	}
	return b
}

func (t toFunction) encode() []byte {
	req := appendMsg(nil, fBatchTarget, t.Target.encode())
	for _, s := range t.State {
		pv := appendString(nil, fPVName, s.Name)
		if s.Value != nil {
			pv = appendMsg(pv, fPVValue, s.Value.encode())
		}
		req = appendMsg(req, fBatchState, pv)
	}
	for _, inv := range t.Invocations {
		var ib []byte
		if inv.Caller != nil {
			ib = appendMsg(ib, fInvCaller, inv.Caller.encode())
		}
		ib = appendMsg(ib, fInvArgument, inv.Arg.encode())
		req = appendMsg(req, fBatchInvocations, ib)
	}
	return appendMsg(nil, fToInvocation, req)
}

// fields calls fn for every field of a message.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func decodeAddress(b []byte) (address, error) {
	var a address
	err := fields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case fAddrNamespace:
			a.Namespace = string(v)
		case fAddrType:
			a.Type = string(v)
		case fAddrID:
			a.ID = string(v)
		}
		return nil
	})
	return a, err
}

func decodeTypedValue(b []byte) (typedValue, error) {
	var t typedValue
	err := fields(b, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		switch num {
		case fTVTypename:
			t.Typename = string(v)
		case fTVHasValue:
			t.HasValue = x != 0
		case fTVValue:
			t.Value = slices.Clone(v)
		}
		return nil
	})
	return t, err
}

func decodeFromFunction(b []byte) (*fromFunction, error) {
	out := &fromFunction{}
	err := fields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case fFromIncomplete:
			return fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if num != fIncMissing {
					return nil
				}
				var s missingSpec
				err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
					switch num {
					case fSpecName:
						s.Name = string(v)
					case fSpecTypename:
						s.Typename = string(v)
					}
					return nil
				})
				out.Missing = append(out.Missing, s)
				return err
			})
		case fFromResult:
			out.Result = &response{}
			return fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				return out.Result.decodeField(num, v)
			})
		}
		return nil
	})
	return out, err
}

func (r *response) decodeField(num protowire.Number, v []byte) error {
	switch num {
	case fRespMutations:
		var m mutation
		err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
			switch num {
			case fMutType:
				m.Type = int(x)
			case fMutName:
				m.Name = string(v)
			case fMutValue:
				tv, err := decodeTypedValue(v)
				m.Value = &tv
				return err
			}
			return nil
		})
		r.Mutations = append(r.Mutations, m)
		return err
	case fRespMessages:
		var m outMessage
		err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
			var err error
			switch num {
			case fOutTarget:
				m.Target, err = decodeAddress(v)
			case fOutArgument:
				m.Arg, err = decodeTypedValue(v)
			}
			return err
		})
		r.Messages = append(r.Messages, m)
		return err
	case fRespDelayed:
		var d delayed
		err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
			switch num {
			case fDelayMs:
				d.DelayMs = int64(x)
			case fDelayTarget:
				a, err := decodeAddress(v)
				d.Target = &a
				return err
			case fDelayArgument:
				tv, err := decodeTypedValue(v)
				d.Arg = &tv
				return err
			case fDelayIsCancel:
				d.Cancel = x != 0
			case fDelayToken:
				d.Token = string(v)
			}
			return nil
		})
		r.Delayed = append(r.Delayed, d)
		return err
	case fRespEgress:
		var e egressMessage
		err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
			var err error
			switch num {
			case fEgNamespace:
				e.Namespace = string(v)
			case fEgType:
				e.Type = string(v)
			case fEgArgument:
				e.Arg, err = decodeTypedValue(v)
			}
			return err
		})
		r.Egress = append(r.Egress, e)
		return err
	}
	return nil
}

func decodeKafkaRecord(e egressMessage) (kafkaRecord, error) {
	if e.Arg.Typename != kafkaRecordType {
		return kafkaRecord{}, fmt.Errorf("egress argument of type %q", e.Arg.Typename)
	}
	var k kafkaRecord
	err := fields(e.Arg.Value, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case fKafkaKey:
			k.Key = string(v)
		case fKafkaValue:
			k.Value = string(v)
		case fKafkaTopic:
			k.Topic = string(v)
		}
		return nil
	})
	return k, err
}

// post sends a ToFunction to the server and decodes the answer, checking
// the status and the Content-Type the Java runtime needs.
func post(t testing.TB, url string, req toFunction) *fromFunction {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(req.encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	from, err := decodeFromFunction(body)
	if err != nil {
		t.Fatalf("decode FromFunction: %v", err)
	}
	return from
}
