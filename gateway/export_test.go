package gateway

// RouteRow is a row of the route table as the external tests see it:
// Rule is its policy rule's name, "" for none.
type RouteRow struct{ Method, Path, Rule string }

// RouteRows is the route table.
func RouteRows() []RouteRow {
	rows := make([]RouteRow, len(routes))
	for i, r := range routes {
		rows[i] = RouteRow{Method: r.method, Path: r.path}
		if r.ruled {
			rows[i].Rule = r.rule.String()
		}
	}
	return rows
}
