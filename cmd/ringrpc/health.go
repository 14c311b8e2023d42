package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/ringrpc/ringrpc/rpc"
)

// errNotServing makes health exit 1 when a checked server is not SERVING.
var errNotServing = errors.New("not every server checked is SERVING")

// healthRow is one server's answer, for --json.
type healthRow struct {
	Addr    string `json:"addr"`
	Service string `json:"service"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
}

// cmdHealth asks the health service of one server (--addr), or of every provider in
// the cluster (--seed), for the status of SERVICE or of the whole server.
func cmdHealth(args []string, stdout, stderr io.Writer) error {
	c := newFlags("health", "[SERVICE]", withAddr|withJSON, stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) > 1 {
		return usageError{msg: fmt.Sprintf("takes at most one argument, the service; got %q", c.args)}
	}
	service := ""
	if len(c.args) == 1 {
		service = c.args[0]
	}
	s, err := c.connect(false)
	if err != nil {
		return err
	}
	defer s.close()
	var rows []healthRow
	if s.reg == nil {
		rows = append(rows, check(s, s.client, c.addr, service))
	} else {
		for _, m := range s.reg.Members() {
			if m.RPCAddr == "" || service != "" && !slices.Contains(m.Services, service) {
				continue
			}
			client, err := s.newClient(rpc.StaticAddress(m.RPCAddr))
			if err != nil {
				return err
			}
			rows = append(rows, check(s, client, m.RPCAddr, service))
			client.Close()
		}
		switch {
		case len(rows) > 0:
		case service == "":
			return errors.New("no member of the cluster serves calls: none has an RPC address (ringrpc members --seed lists them)")
		default:
			return fmt.Errorf("no member of the cluster provides %q: check the name with ringrpc services --seed", service)
		}
	}
	if err := printHealth(stdout, rows, c.json); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Status != rpc.StatusServing.String() {
			return errNotServing
		}
	}
	return nil
}

func check(s *session, client *rpc.Client, addr, service string) healthRow {
	row := healthRow{Addr: addr, Service: service}
	st, err := client.CheckHealth(s.ctx, service)
	row.Status = st.String()
	if err != nil {
		row.Error = s.diagnose(addr, err).Error()
	}
	return row
}

func printHealth(w io.Writer, rows []healthRow, asJSON bool) error {
	if asJSON {
		return writeJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDR\tSERVICE\tSTATUS")
	for _, r := range rows {
		svc := r.Service
		if svc == "" {
			svc = "(server)"
		}
		status := r.Status
		if r.Error != "" {
			status += " (" + r.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", shown(r.Addr), shown(svc), shown(status))
	}
	return tw.Flush()
}
