package gateway

import (
	"errors"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The Tasks API is admin-only by default (tasks_api_access), as in Glance
// since Mitaka.
func (s *Server) tasksAllowed(c *call) bool {
	if s.allowed(c, policy.TasksAPIAccess) {
		return true
	}
	writeError(c.ctx, errStatus(403, "You are not authorized to complete tasks_api_access action."))
	return false
}

func (s *Server) createTask(c *call) {
	if !s.tasksAllowed(c) {
		return
	}
	body, err := s.jsonBody(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	typ, input, err := ParseTaskCreate(body)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	t, err := s.cat.Tasks.CreateTask(c, typ, input)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(201)
	c.ctx.Response.Header.Set("Location", hostURL(c.ctx)+"/v2/tasks/"+t.ID)
	buf := bytebuf(c.ctx)
	*buf = appendTask(*buf, t, true)
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(*buf)
}

func (s *Server) getTask(c *call, id string) {
	if !s.tasksAllowed(c) {
		return
	}
	t, err := s.cat.Tasks.Task(c, id)
	if err == nil && !c.id.IsAdmin && t.Owner != c.id.ProjectID {
		err = backends.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = backends.Errorf(backends.ErrNotFound, "Could not find task "+id)
		}
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	*buf = appendTask(*buf, t, true)
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(*buf)
}

func (s *Server) deleteTask(c *call) {
	if !s.tasksAllowed(c) {
		return
	}
	c.ctx.Response.Header.Set("Allow", "GET")
	writeError(c.ctx, &httpError{status: 405, bare: true, explanation: "This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property."})
}

func (s *Server) listTasks(c *call) {
	if !s.tasksAllowed(c) {
		return
	}
	args := c.ctx.QueryArgs()
	q, err := ParseTaskQuery(args)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	tasks, err := s.cat.Tasks.ListTasks(c, q)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := append(*buf, `{"tasks": [`...)
	for i, t := range tasks {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendTask(b, t, false)
	}
	last := ""
	if len(tasks) > 0 && len(tasks) == q.Limit {
		last = tasks[len(tasks)-1].ID
	}
	b = appendPageLinks(b, "tasks", args, last)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}
