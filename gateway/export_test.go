package gateway

// RouteRow is a row of the route table as the external tests see it.
type RouteRow struct{ Method, Path string }

// RouteRows is the route table.
func RouteRows() []RouteRow {
	rows := make([]RouteRow, len(routes))
	for i, r := range routes {
		rows[i] = RouteRow{r.method, r.path}
	}
	return rows
}
