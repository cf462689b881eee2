package partiql

// QLDB's PartiQL has no ORDER BY, GROUP BY, HAVING, LIMIT, OFFSET or set
// operators (UNION, INTERSECT, EXCEPT). Strand refuses them with a
// positioned error rather than parsing and ignoring them, so that an
// application never gets silently unsorted or unlimited results.
//
// refuseClauseBeyondQLDB decides this at parse time for GROUP BY, HAVING
// and the set operators. ORDER BY, LIMIT and OFFSET are parsed (selectTail)
// because the opt-in extension mode runs them; in the default mode the
// evaluator refuses them (checkSelectExtensions) with the same code and
// position.

// clausesBeyondQLDB maps the keyword that starts a refused clause to its
// name in messages.
var clausesBeyondQLDB = map[string]string{
	"ORDER": "ORDER BY", "GROUP": "GROUP BY", "HAVING": "HAVING", "LIMIT": "LIMIT", "OFFSET": "OFFSET",
	"UNION": "UNION", "INTERSECT": "INTERSECT", "EXCEPT": "EXCEPT",
}

// refuseClauseBeyondQLDB returns a CodeUnsupported error when the next
// token starts a clause QLDB PartiQL does not have, nil otherwise.
func (p *parser) refuseClauseBeyondQLDB() error {
	t := p.peek()
	if t.kind != tokKeyword {
		return nil
	}
	if name, ok := clausesBeyondQLDB[t.text]; ok {
		return unsupportedErr(t.pos, "%s is not supported by QLDB PartiQL (query results are unordered bags; filter with WHERE and sort or page in the application)", name)
	}
	return nil
}
