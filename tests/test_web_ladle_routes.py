"""A site's ``webserver/htdocs/ladle_routes.lua`` (``WebLadleRoutes = 1``): its routes answer
before ours (Ladle serves every request through that file, conquest-lua-web.md §10.5); with
no match the request goes on to our routes with its body; off by default."""
from __future__ import annotations

import requests
from webhelpers import WebServer

ROUTES = r'''
local router = require 'router'
assert(type(router.new) == 'function')
routes:get('/hello/:name', function(p)
  write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Route: hello\r\n\r\n")
  write("hello " .. p.name .. " x=" .. tostring(p.x) .. " orguri=" .. request.orguri)
end)
routes:get('/hello/world', function(p) write("Content-type: text/plain\n\nthe literal route") end)
routes:post('/echo', function(p) write("Content-type: text/plain\n\necho " .. tostring(p.msg)) end)
routes:get('/files/*rest', function(p) write("Content-type: text/plain\n\nrest=" .. p.rest) end)
routes:match({GET = {['/dicom-web/studies'] = function(p) write("Content-type: text/plain\n\nlua studies") end}})
routes:any('/boom', function(p) error("route failed") end)
routes:get('/jump', function(p) redirect('/hello.txt') end)
routes:get('/self.txt', function(p) redirect('/self.txt') end)
routes:post('/stow', function(p)
  local u = request.query._upload_ or ''
  write("Content-type: text/plain\n\n" .. #u .. " " .. u:sub(129, 132))
end)
routes:post('/form', function(p) redirect('/form.lua') end)
routes:post('/app/newweb/dgate.exe', function(p) redirect('/app/newweb/dgate.exe') end)
routes:get('/query', function(p) redirect('/form.lua?msg=from+the+route') end)
'''


def _server(tmp_path, on: str) -> WebServer:
    server = WebServer(tmp_path, WebLadleRoutes=on)
    root = tmp_path / "webserver" / "htdocs"
    root.mkdir(parents=True, exist_ok=True)
    (root / "ladle_routes.lua").write_text(ROUTES)
    (root / "hello.txt").write_text("a static file\n")
    (root / "self.txt").write_text("served by our routes\n")
    (root / "app" / "newweb").mkdir(parents=True)
    (root / "app" / "newweb" / "start.lua").write_text('HTML("Content-type: text/plain\\n")\n'
                                                     'print("start " .. CGI("parameter", "?"))\n')
    (root / "form.lua").write_text('write("Content-type: text/plain\\n\\nform ", request.method, " ",'
                                   ' tostring(request.query.msg))')
    return server


def test_site_routes_answer_first_and_the_rest_is_ours(tmp_path):
    server = _server(tmp_path, "1")
    try:
        r = requests.get(server.url + "/hello/bob?x=1", timeout=20)
        assert r.status_code == 200 and r.headers["x-route"] == "hello", r.text
        assert r.text == "hello bob x=1 orguri=/hello/bob"
        assert requests.get(server.url + "/hello/world", timeout=20).text == "the literal route"
        # redirect(uri): served at once by our routes, not through the file again (Ladle's servedirect)
        jump = requests.get(server.url + "/jump", timeout=20, allow_redirects=False)
        assert jump.status_code == 200 and jump.text == "a static file\n", jump.text
        r = requests.get(server.url + "/self.txt", timeout=20, allow_redirects=False)
        assert r.status_code == 200 and r.text == "served by our routes\n"
        r = requests.post(server.url + "/form?x=1", data={"msg": "posted"}, timeout=20, allow_redirects=False)
        assert r.status_code == 200 and r.text == "form POST posted", r.text
        assert requests.get(server.url + "/query?msg=lost", timeout=20).text == "form GET from the route"
        r = requests.post(server.url + "/app/newweb/dgate.exe", data={"mode": "start", "parameter": "p1"}, timeout=20)
        assert r.status_code == 200 and r.text.strip() == "start p1", r.text      # newweb's upload forms
        r = requests.post(server.url + "/echo", data={"msg": "hi there"}, timeout=20)
        assert r.status_code == 200 and r.text == "echo hi there"
        assert requests.get(server.url + "/files/a/b/c.txt", timeout=20).text == "rest=a/b/c.txt"
        assert requests.get(server.url + "/dicom-web/studies", timeout=20).text == "lua studies"
        # not a route of the file: ours (a static file, DICOMweb, a POST body kept for STOW)
        assert requests.get(server.url + "/hello.txt", timeout=20).text == "a static file\n"
        assert requests.get(server.url + "/dicom-web/series", timeout=20).json() == []
        from pydicom.data import get_testdata_file
        from test_web_dicomweb import multipart
        body, boundary = multipart([("application/dicom", open(get_testdata_file("CT_small.dcm"), "rb").read())])
        r = requests.post(server.url + "/dicom-web/studies", data=body, timeout=60, headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
        assert r.status_code == 200, r.text
        assert len(requests.get(server.url + "/dicom-web/series", timeout=20).json()) == 1
        # a multipart/related body (a STOW of Conquest's ladle_routes.lua): its first part is _upload_
        dicom = open(get_testdata_file("CT_small.dcm"), "rb").read()
        r = requests.post(server.url + "/stow", data=body, timeout=60, headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
        assert r.text == f"{len(dicom)} DICM", r.text
        r = requests.get(server.url + "/boom", timeout=20)
        assert r.status_code == 500 and "route failed" in r.text
        assert requests.get(server.url + "/hello/again", timeout=20).status_code == 200   # goes on
    finally:
        server.stop()


def test_site_routes_are_off_by_default(tmp_path):
    server = _server(tmp_path, "0")
    try:
        assert requests.get(server.url + "/hello/bob", timeout=20).status_code == 404
        assert requests.get(server.url + "/dicom-web/studies", timeout=20).json() == []
    finally:
        server.stop()
