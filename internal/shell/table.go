package shell

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// maxCell is the widest a table cell is printed; longer values are cut
// with "…".
const maxCell = 48

// writeTable prints rows as a text table. When every row is a struct, the
// columns are the field names in order of first appearance (a missing field
// is an empty cell); otherwise there is one column, "value". Cells hold
// compact Ion text.
func writeTable(w io.Writer, rows []*ionvalue.Value) {
	if len(rows) == 0 {
		return
	}
	var cols []string
	allStructs := true
	seen := map[string]int{}
	for _, r := range rows {
		if r == nil || r.Type != ion.StructType || r.IsNull {
			allStructs = false
			break
		}
		for _, f := range r.Fields {
			if _, ok := seen[f.Name]; !ok {
				seen[f.Name] = len(cols)
				cols = append(cols, f.Name)
			}
		}
	}
	cells := make([][]string, len(rows))
	if !allStructs || len(cols) == 0 {
		cols = []string{"value"}
		for i, r := range rows {
			cells[i] = []string{cut(ionvalue.MarshalText(r))}
		}
	} else {
		for i, r := range rows {
			cells[i] = make([]string, len(cols))
			for _, f := range r.Fields {
				if c := seen[f.Name]; cells[i][c] == "" {
					cells[i][c] = cut(ionvalue.MarshalText(f.Value))
				}
			}
		}
	}
	width := make([]int, len(cols))
	for c, name := range cols {
		width[c] = utf8.RuneCountInString(name)
		for _, row := range cells {
			width[c] = max(width[c], utf8.RuneCountInString(row[c]))
		}
	}
	line := func(vals []string) {
		var b strings.Builder
		for c, v := range vals {
			if c > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(v)
			if c < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", width[c]-utf8.RuneCountInString(v)))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(cols)
	sep := make([]string, len(cols))
	for c := range cols {
		sep[c] = strings.Repeat("-", width[c])
	}
	fmt.Fprintln(w, strings.Join(sep, "-+-"))
	for _, row := range cells {
		line(row)
	}
}

func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxCell {
		return s
	}
	r := []rune(s)
	return string(r[:maxCell-1]) + "…"
}
