package partiql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// TO_STRING and TO_TIMESTAMP with QLDB's timestamp format strings: runs of
// the letters y M d a h H m s S n X x are fields (see fmtField), text in
// single quotes is literal ('' is a quote), and any other character that is
// not a letter stands for itself. Other letters are an error, as in Java's
// DateTimeFormatter, which QLDB's engine used.

func init() {
	scalarFuncs["TO_STRING"] = scalarFunc{2, 2, true, toStringFunc}
	scalarFuncs["TO_TIMESTAMP"] = scalarFunc{1, 2, true, toTimestampFunc}
}

// fmtItem is one element of a parsed format: a field (letter repeated
// count times) or literal text (letter 0).
type fmtItem struct {
	letter rune
	count  int
	text   string
}

// maxCount is the longest run allowed for each field letter.
var maxCount = map[rune]int{
	'y': 9, 'M': 5, 'd': 2, 'a': 1, 'h': 2, 'H': 2, 'm': 2, 's': 2, 'S': 9, 'n': 1, 'X': 5, 'x': 5,
}

// parseFormat splits a format string into items.
func parseFormat(call *Call, f string) ([]fmtItem, error) {
	var items []fmtItem
	rs := []rune(f)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r == '\'':
			j := i + 1
			var b strings.Builder
			for {
				if j >= len(rs) {
					return nil, evalErr(call.Pos, "invalid format pattern '%s': unterminated quoted text", f)
				}
				if rs[j] == '\'' {
					if j+1 < len(rs) && rs[j+1] == '\'' {
						b.WriteRune('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteRune(rs[j])
				j++
			}
			if j == i+1 {
				b.WriteRune('\'') // '' outside quotes is a quote
			}
			items = append(items, fmtItem{text: b.String()})
			i = j + 1
		case (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			j := i
			for j < len(rs) && rs[j] == r {
				j++
			}
			lim, ok := maxCount[r]
			if !ok {
				return nil, evalErr(call.Pos, "invalid format pattern '%s': unknown pattern letter '%c'", f, r)
			}
			if j-i > lim {
				return nil, evalErr(call.Pos, "invalid format pattern '%s': too many '%c'", f, r)
			}
			items = append(items, fmtItem{letter: r, count: j - i})
			i = j
		default:
			items = append(items, fmtItem{text: string(r)})
			i++
		}
	}
	return items, nil
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"}

// toStringFunc is TO_STRING(t, format).
func toStringFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	ts, err := tsArg(call, a[0], "its first argument")
	if err != nil {
		return nil, err
	}
	if !isText(a[1]) {
		return nil, evalErr(call.Pos, "TO_STRING expects a format string, found %s", typeName(a[1]))
	}
	items, err := parseFormat(call, a[1].Text)
	if err != nil {
		return nil, err
	}
	t := localTime(ts)
	_, off := t.Zone()
	var b strings.Builder
	pad := func(n, width int) { fmt.Fprintf(&b, "%0*d", width, n) }
	for _, it := range items {
		switch it.letter {
		case 0:
			b.WriteString(it.text)
		case 'y':
			if it.count == 2 {
				pad(t.Year()%100, 2)
			} else {
				pad(t.Year(), it.count)
			}
		case 'M':
			switch it.count {
			case 1, 2:
				pad(int(t.Month()), it.count)
			case 3:
				b.WriteString(monthNames[t.Month()-1][:3])
			case 4:
				b.WriteString(monthNames[t.Month()-1])
			default:
				b.WriteString(monthNames[t.Month()-1][:1])
			}
		case 'd':
			pad(t.Day(), it.count)
		case 'a':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(h, it.count)
		case 'H':
			pad(t.Hour(), it.count)
		case 'm':
			pad(t.Minute(), it.count)
		case 's':
			pad(t.Second(), it.count)
		case 'S':
			b.WriteString(fmt.Sprintf("%09d", t.Nanosecond())[:it.count])
		case 'n':
			b.WriteString(strconv.Itoa(t.Nanosecond()))
		case 'X', 'x':
			b.WriteString(formatOffset(off, it.letter == 'X', it.count))
		}
	}
	return ionvalue.String(b.String()), nil
}

// formatOffset renders an offset in seconds: count 1 is +HH (+HHMM when
// the minutes are not zero), 2 and 4 +HHMM, 3 and 5 +HH:MM. With z, a zero
// offset is "Z".
func formatOffset(off int, z bool, count int) string {
	if off == 0 && z {
		return "Z"
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	hh, mm := off/3600, off%3600/60
	switch count {
	case 1:
		if mm == 0 {
			return fmt.Sprintf("%s%02d", sign, hh)
		}
		return fmt.Sprintf("%s%02d%02d", sign, hh, mm)
	case 2, 4:
		return fmt.Sprintf("%s%02d%02d", sign, hh, mm)
	default:
		return fmt.Sprintf("%s%02d:%02d", sign, hh, mm)
	}
}

// toTimestampFunc is TO_TIMESTAMP(s [, format]). Without a format s must
// be an Ion timestamp. With one, s must match it exactly: single letters
// accept one or more digits (y up to 4), doubled letters exactly two (yyy
// and yyyy at least three and four), yy is 1970-2069, month names and
// AM/PM ignore case, S.. reads exactly that many fraction digits and n the
// nanoseconds. The result's precision is the finest field the format has;
// with time fields but no offset field its offset is unknown (-00:00), as
// in the PartiQL reference implementation QLDB used.
func toTimestampFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	if !isText(a[0]) {
		return nil, evalErr(call.Pos, "TO_TIMESTAMP expects a string, found %s", typeName(a[0]))
	}
	if len(a) == 1 {
		if v := parseIonTimestamp(a[0].Text); v != nil {
			return v, nil
		}
		return nil, evalErr(call.Pos, "TO_TIMESTAMP: '%s' is not an Ion timestamp", castShow(a[0]))
	}
	if !isText(a[1]) {
		return nil, evalErr(call.Pos, "TO_TIMESTAMP expects a format string, found %s", typeName(a[1]))
	}
	items, err := parseFormat(call, a[1].Text)
	if err != nil {
		return nil, err
	}
	ts, msg := parseWithFormat([]rune(a[0].Text), items)
	if msg != "" {
		return nil, evalErr(call.Pos, "TO_TIMESTAMP: '%s' does not match the format '%s': %s", a[0].Text, a[1].Text, msg)
	}
	return ionvalue.Timestamp(ts), nil
}

// parseWithFormat parses s with items; msg says why it does not match.
func parseWithFormat(s []rune, items []fmtItem) (ion.Timestamp, string) {
	year, month, day, hour, minute, sec, nano := -1, 1, 1, 0, 0, 0, 0
	hour12, pm, haveAMPM := -1, false, false
	off, haveOff := 0, false
	prec, frac := ion.TimestampPrecisionYear, uint8(0)
	finer := func(p ion.TimestampPrecision) { prec = max(prec, p) }
	pos := 0
	digits := func(minN, maxN int) (int, bool) {
		j := pos
		for j < len(s) && j-pos < maxN && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-pos < minN {
			return 0, false
		}
		n, _ := strconv.Atoi(string(s[pos:j]))
		pos = j
		return n, true
	}
	for _, it := range items {
		var ok bool
		fixed := func(single int) (int, bool) {
			if it.count == 1 {
				return digits(1, single)
			}
			return digits(it.count, it.count)
		}
		switch it.letter {
		case 0:
			lit := []rune(it.text)
			if pos+len(lit) > len(s) || string(s[pos:pos+len(lit)]) != it.text {
				return ion.Timestamp{}, fmt.Sprintf("expected '%s' at position %d", it.text, pos+1)
			}
			pos += len(lit)
			ok = true
		case 'y':
			if it.count >= 3 { // yyy and yyyy: at least that many digits
				year, ok = digits(it.count, max(it.count, 4))
			} else {
				year, ok = fixed(4)
			}
			if ok && it.count == 2 {
				if year >= 70 {
					year += 1900
				} else {
					year += 2000
				}
			}
		case 'M':
			finer(ion.TimestampPrecisionMonth)
			if it.count <= 2 {
				month, ok = fixed(2)
				break
			}
			if it.count == 5 {
				return ion.Timestamp{}, "MMMMM (the month's first letter) cannot be parsed"
			}
			month, ok = matchMonth(s, &pos, it.count == 3)
		case 'd':
			finer(ion.TimestampPrecisionDay)
			day, ok = fixed(2)
		case 'a':
			haveAMPM = true
			if pos+2 <= len(s) {
				switch strings.ToUpper(string(s[pos : pos+2])) {
				case "AM":
					ok = true
				case "PM":
					ok, pm = true, true
				}
			}
			pos += 2
		case 'h':
			finer(ion.TimestampPrecisionMinute)
			hour12, ok = fixed(2)
		case 'H':
			finer(ion.TimestampPrecisionMinute)
			hour, ok = fixed(2)
		case 'm':
			finer(ion.TimestampPrecisionMinute)
			minute, ok = fixed(2)
		case 's':
			finer(ion.TimestampPrecisionSecond)
			sec, ok = fixed(2)
		case 'S', 'n':
			finer(ion.TimestampPrecisionNanosecond)
			start := pos
			if it.letter == 'S' {
				nano, ok = digits(it.count, it.count)
			} else {
				nano, ok = digits(1, 9)
			}
			n := pos - start
			frac = uint8(n)
			if it.letter == 'n' {
				// Nanoseconds: as many fraction digits as the value needs
				// (100 is .0000001), none for 0.
				frac = 9
				for d := nano; frac > 0 && d%10 == 0; d /= 10 {
					frac--
				}
				if frac == 0 {
					prec = ion.TimestampPrecisionSecond
				}
			} else {
				for range 9 - n {
					nano *= 10
				}
			}
		case 'X', 'x':
			haveOff = true
			off, ok = matchOffset(s, &pos, it.letter == 'X')
		}
		if !ok {
			return ion.Timestamp{}, fmt.Sprintf("no valid %c field at position %d", it.letter, pos+1)
		}
	}
	if pos != len(s) {
		return ion.Timestamp{}, fmt.Sprintf("unexpected text at position %d", pos+1)
	}
	if year < 0 {
		return ion.Timestamp{}, "the format has no year"
	}
	if hour12 >= 0 {
		if hour12 < 1 || hour12 > 12 {
			return ion.Timestamp{}, "hour of the 12-hour clock out of range"
		}
		hour = hour12 % 12
		if pm {
			hour += 12
		}
	} else if haveAMPM && pm && hour < 12 {
		hour += 12
	}
	switch {
	case year < minYear || year > maxYear:
		return ion.Timestamp{}, "year out of range"
	case month < 1 || month > 12:
		return ion.Timestamp{}, "month out of range"
	case day < 1 || day > daysIn(year, time.Month(month)):
		return ion.Timestamp{}, "day out of range"
	case hour > 23 || minute > 59 || sec > 59:
		return ion.Timestamp{}, "time of day out of range"
	case off <= -24*3600 || off >= 24*3600:
		return ion.Timestamp{}, "offset out of range"
	}
	kind := ion.TimezoneUnspecified
	loc := time.UTC
	if haveOff {
		kind = ion.TimezoneUTC
		if off != 0 {
			kind, loc = ion.TimezoneLocal, time.FixedZone("", off)
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nano, loc)
	return makeTimestamp(t, prec, kind, frac), ""
}

// matchMonth reads a month name (abbreviated or full), ignoring case.
func matchMonth(s []rune, pos *int, short bool) (int, bool) {
	for i, name := range monthNames {
		if short {
			name = name[:3]
		}
		n := len(name)
		if *pos+n <= len(s) && strings.EqualFold(string(s[*pos:*pos+n]), name) {
			*pos += n
			return i + 1, true
		}
	}
	return 0, false
}

// matchOffset reads Z (when z), or ±HH, ±HHMM or ±HH:MM; it returns seconds.
func matchOffset(s []rune, pos *int, z bool) (int, bool) {
	p := *pos
	if p < len(s) && z && (s[p] == 'Z' || s[p] == 'z') {
		*pos = p + 1
		return 0, true
	}
	if p >= len(s) || (s[p] != '+' && s[p] != '-') {
		return 0, false
	}
	sign := 1
	if s[p] == '-' {
		sign = -1
	}
	p++
	two := func() (int, bool) {
		if p+2 > len(s) || s[p] < '0' || s[p] > '9' || s[p+1] < '0' || s[p+1] > '9' {
			return 0, false
		}
		n := int(s[p]-'0')*10 + int(s[p+1]-'0')
		p += 2
		return n, true
	}
	hh, ok := two()
	if !ok {
		return 0, false
	}
	mm := 0
	if p < len(s) && s[p] == ':' {
		p++
		if mm, ok = two(); !ok {
			return 0, false
		}
	} else if p+1 < len(s) && s[p] >= '0' && s[p] <= '9' {
		if mm, ok = two(); !ok {
			return 0, false
		}
	}
	if hh > 23 || mm > 59 {
		return 0, false
	}
	*pos = p
	return sign * (hh*3600 + mm*60), true
}
