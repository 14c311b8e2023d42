package debugpage

import (
	"fmt"
	"html/template"
	"time"
)

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"dur":  formatDur,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
}).Parse(pageHTML))

// formatDur prints a latency with three significant digits or so.
func formatDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .5em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; margin: 0 0 .4em; }
.meta { color: #666; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #eee; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { width: .9em; height: .9em; vertical-align: -.1em; margin-right: .4em; }
.service { display: flex; gap: 2em; align-items: center; margin-bottom: 1.5em; }
svg.ring { width: 260px; height: 260px; flex: none; }
.bad { color: #b00020; }
.empty { color: #888; font-style: italic; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{if .Node}}node <b id="node">{{.Node}}</b> · {{end}}{{if .Addr}}RPC at {{.Addr}} · {{end}}{{if .Registry}}<span id="member-count" data-count="{{len .Members}}">{{len .Members}}</span> member{{if ne (len .Members) 1}}s{{end}} · <span id="service-count">{{len .Services}}</span> service{{if ne (len .Services) 1}}s{{end}} · {{end}}generated {{time .Generated}}. Reload for fresh figures; add ?format=json for the data.</p>
{{with .Health}}
<h2>Health</h2>
<table id="health">
<tr><th>service</th><th>status</th></tr>
{{range .}}<tr><td>{{if .Service}}{{.Service}}{{else}}(the whole server){{end}}</td><td{{if ne .Status "SERVING"}} class="bad"{{end}}>{{.Status}}</td></tr>
{{end}}</table>
{{end}}
{{if .Registry}}
<h2>Members</h2>
{{if .Members}}<table id="members">
<tr><th>name</th><th>state</th><th>gossip</th><th>RPC</th><th>services</th><th>not serving</th></tr>
{{range .Members}}<tr class="member"><td>{{.Name}}{{if .Self}} (this node){{end}}</td><td>{{.State}}{{if .Leaving}}, leaving{{end}}</td><td>{{.GossipAddr}}</td><td>{{.RPCAddr}}</td><td>{{range $i, $s := .Services}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td class="bad">{{range $i, $s := .NotServing}}{{if $i}}, {{end}}{{if eq $s "*"}}every service{{else}}{{$s}}{{end}}{{end}}</td></tr>
{{end}}</table>{{else}}<p class="empty">No member known yet.</p>{{end}}
<h2>Services and their rings</h2>
{{range .Services}}<div class="service" id="service-{{.Name}}">
<svg class="ring" viewBox="-105 -105 210 210" role="img" aria-label="ring of {{.Name}}: {{len .Owners}} partitions">
<title>ring of {{.Name}}: {{len .Owners}} partitions</title>
{{range .Arcs}}<path d="{{.Path}}" fill="{{.Color}}"><title>{{.Label}}</title></path>
{{end}}<text x="0" y="-4" text-anchor="middle" font-size="11">{{len .Providers}} providers</text>
<text x="0" y="12" text-anchor="middle" font-size="9" fill="#666">{{len .Owners}} partitions</text>
</svg>
<div><h3>{{.Name}}</h3>
<table class="providers">
<tr><th>provider</th><th>RPC</th><th>partitions</th><th>share</th></tr>
{{range .Providers}}<tr><td><svg class="swatch" viewBox="0 0 1 1"><rect width="1" height="1" fill="{{.Color}}"/></svg>{{.Node}}</td><td>{{.Addr}}</td><td class="n">{{.Partitions}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table>
<p class="meta">ring checksum {{.Checksum}}</p></div>
</div>
{{else}}<p class="empty">No service has a provider.</p>
{{end}}{{end}}
<h2>Methods served</h2>
{{if .Methods}}<table id="methods">
<tr><th>service</th><th>method</th><th>calls</th><th>errors</th><th>error rate</th><th>by code</th><th>p50</th><th>p90</th><th>p99</th></tr>
{{range .Methods}}<tr><td>{{.Service}}</td><td>{{.Method}}</td><td class="n">{{.Calls}}</td><td class="n">{{.Errors}}</td><td class="n{{if .Errors}} bad{{end}}">{{pct .ErrorRate}}</td><td>{{.CodeList}}</td><td class="n">{{dur .P50}}</td><td class="n">{{dur .P90}}</td><td class="n">{{dur .P99}}</td></tr>
{{end}}</table>
<p class="meta">Counted since {{time .CountedSince}}, when this page or the server's method statistics were first asked for; latency from a request's arrival (time in the queue included) to its handler's return, within 12.5%.</p>
{{else}}<p class="empty">No service is served here.</p>{{end}}
<h2>Connections</h2>
{{if .Conns}}<table id="conns">
<tr><th>side</th><th>peer</th><th>local</th><th>status</th><th>calls pending</th><th>requests being handled</th></tr>
{{range .Conns}}<tr><td>{{if eq .Side "in"}}from a client{{else}}to a provider{{end}}</td><td>{{.Peer}}</td><td>{{.Local}}</td><td>{{.Status}}</td><td class="n">{{.Pending}}</td><td class="n">{{.Handling}}</td></tr>
{{end}}</table>{{else}}<p class="empty">No connection is open.</p>{{end}}
</body>
</html>
`
