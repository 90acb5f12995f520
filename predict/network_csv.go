package predict

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Columns of a network CSV file. The first record is the header; columns may
// come in any order. name is optional; every other column is an error, so
// that a misspelt header does not silently drop a field.
var networkColumns = []string{"activity", "optimistic", "likely", "pessimistic", "predecessors"}

// ParseNetwork reads a network from CSV: a header naming the columns
// activity, optimistic, likely, pessimistic, predecessors (and optionally
// name), then one activity per row. Predecessors are separated by ';' and
// may be empty or "-" for none. Lines starting with '#' are comments, and
// blank lines are skipped. An error is a *NetworkError naming the line
// (counted in the file, the header being line 1 unless comments precede it)
// and the column; it never panics on any input.
func ParseNetwork(r io.Reader) (*Network, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &NetworkError{Reason: "empty file: want a header line " + strings.Join(networkColumns, ",")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	headerLine, _ := cr.FieldPos(0)
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := h == "name"
		for _, c := range networkColumns {
			known = known || h == c
		}
		if !known {
			return nil, &NetworkError{Row: headerLine, Column: h,
				Reason: fmt.Sprintf("unknown column %q: want %s (and optionally name)", h, strings.Join(networkColumns, ", "))}
		}
		if _, dup := col[h]; dup {
			return nil, &NetworkError{Row: headerLine, Column: h, Reason: "column given twice"}
		}
		col[h] = i
	}
	for _, c := range networkColumns {
		if _, ok := col[c]; !ok {
			return nil, &NetworkError{Row: headerLine, Column: c,
				Reason: fmt.Sprintf("missing column %q in the header (want %s)", c, strings.Join(networkColumns, ","))}
		}
	}
	var acts []Activity
	var rows []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(acts) == MaxActivities {
			return nil, &NetworkError{Row: line, Reason: fmt.Sprintf("more than %d activities", MaxActivities)}
		}
		a := Activity{ID: strings.TrimSpace(rec[col["activity"]])}
		if i, ok := col["name"]; ok {
			a.Name = strings.TrimSpace(rec[i])
		}
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"optimistic", &a.Optimistic}, {"likely", &a.Likely}, {"pessimistic", &a.Pessimistic}} {
			s := strings.TrimSpace(rec[col[f.name]])
			if s == "" {
				return nil, &NetworkError{Row: line, Column: f.name, Activity: a.ID, Reason: "missing duration"}
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, &NetworkError{Row: line, Column: f.name, Activity: a.ID, Reason: fmt.Sprintf("%q is not a number", s)}
			}
			*f.dst = v
		}
		if p := strings.TrimSpace(rec[col["predecessors"]]); p != "" && p != "-" {
			for _, id := range strings.Split(p, ";") {
				id = strings.TrimSpace(id)
				if id == "" {
					return nil, &NetworkError{Row: line, Column: "predecessors", Activity: a.ID,
						Reason: fmt.Sprintf("empty predecessor in %q (separate ids with ';')", p)}
				}
				a.Predecessors = append(a.Predecessors, id)
			}
		}
		acts = append(acts, a)
		rows = append(rows, line)
	}
	if len(acts) == 0 {
		return nil, &NetworkError{Row: headerLine, Reason: "no activities after the header"}
	}
	return buildNetwork(acts, rows)
}

// csvError turns a CSV syntax error into a NetworkError naming its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		reason := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			reason = "wrong number of fields: every row needs one per header column (quote a field that holds a comma)"
		}
		return &NetworkError{Row: pe.Line, Reason: reason}
	}
	return fmt.Errorf("read network: %w", err)
}
