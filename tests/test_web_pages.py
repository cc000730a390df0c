"""Conquest's web folder (``webserver/htdocs``) as Ladle serves it: static files, ``.lua``
pages writing their own status line and headers, ``.lp`` templates, include/redirect,
form uploads, the newweb CGI emulation (``…/dgate.exe?mode=``, ``CGI``, ``HTML``, ``print``,
``gpps``), and names that would leave the folder."""
from __future__ import annotations

import pytest
import requests
from webhelpers import WebServer

PAGES = {
    "hello.txt": "hello\n",
    "style.css": "body{}\n",
    "api.lua": 'write("HTTP/1.1 201 Created\\r\\nContent-Type: application/json\\r\\nX-Page: api\\r\\n\\r\\n")\n'
               'write(JSON.encode({x = request.query.x, method = request.method, uri = request.uri}))\n',
    "cgi.lua": 'write("Content-type: text/plain\\n\\n", "plain ", request.query_string)\n',
    "bare.lua": 'write("<p>no header</p>")\n',
    "json.lua": 'io.write("Content-type: text/plain\\n\\n")\n'
                'io.write(JSON:encode({a = 1}), "|"):write(JSON.encode({b = 2}), "|")\n'
                'io.write(JSON:decode(\'{"c": 3}\').c, JSON.decode(\'{"d": 4}\').d)\n',
    "sum.lp": "<html><?= 1 + 2 ?>|<? for i = 1, 3 do write(i) end ?>|]]</html>\n",
    "outer.lua": 'write("Content-type: text/plain\\n\\nouter ")\ninclude("/inc/inner.lua")\n',
    "inc/inner.lua": 'write("inner")\n',
    "jump.lua": 'write("lost")\nredirect("/hello.txt")\n',
    "broken.lua": 'write("x")\nerror("this page is broken")\n',
    "upload.lua": 'write("Content-type: text/plain\\n\\n", request.query.name or "?", ":",'
                  ' request.query.filename or "?", ":", #(request.query._upload_ or ""))\n',
    "app/newweb/listthings.lua":
        'HTML("Content-type: text/html\\nX-Mode: %s", mode)\nHTML("")\n'
        'print("mode=" .. mode)\nprint("x=" .. CGI("x", "none") .. " y=" .. CGI("y", "dflt"))\n'
        'print("port=" .. gpps("sscscp", "TCPPort", ""))\nprint("viewer=" .. gpps("webdefaults", "viewer", ""))\n'
        'print("ae=" .. gpps("sscscp", "MyACRNema", ""))\nprint(script_name .. " " .. extra .. " " .. version)\n'
        'print("patid=" .. patid .. " studyuid=" .. studyuid)\n',
    "routed.lua": 'write("Content-type: text/plain\\n\\npage ")\n'
                  'routes:get("/routed.lua", function(p) write("route x=" .. tostring(p.x)) end)\n'
                  'routes:post("/routed.lua", function(p) write("never") end)\n',
    "app/newweb/icon.lua":                 # start.lua's icon line: Global.WebCodeBase is nil here
        'HTML("Content-type: text/html\\n")\nHTML("<IMG SRC=\'%sconquest.jpg\'> %s|%s", Global.WebCodeBase, nil, 7)\n',
    "app/newweb/picture.lua":              # slice.lua's way: HTML('') and the image bytes
        'HTML("")\nwrite("GIF89a")\n',
    "app/newweb/start.lua":
        'HTML("Content-type: text/plain")\nHTML("")\nprint("start page, parameter=" .. CGI("parameter", ""))\n',
}


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    server = WebServer(folder, TCPPort="5999")
    root = folder / "webserver" / "htdocs"
    for name, text in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (folder / "secret.lua").write_text('write("secret")')
    yield server
    server.stop()


def test_static_files_and_not_found(web):
    assert requests.get(web.url + "/", allow_redirects=False).headers["location"] == "/ui/"
    index = web.folder / "webserver" / "htdocs" / "index.html"
    index.write_text("<p>conquest</p>")
    try:
        assert requests.get(web.url + "/").text == "<p>conquest</p>"         # Ladle's index.html first
    finally:
        index.unlink()
    r = requests.get(web.url + "/hello.txt")
    assert r.status_code == 200 and r.text == "hello\n" and r.headers["content-type"].startswith("text/plain")
    assert requests.get(web.url + "/style.css").headers["content-type"].startswith("text/css")
    r = requests.get(web.url + "/nothing.html")
    assert r.status_code == 404 and r.text == "Not found!"


def test_lua_pages_write_status_headers_and_body(web):
    r = requests.get(web.url + "/api.lua?x=42")
    assert r.status_code == 201 and r.headers["x-page"] == "api"
    assert r.json() == {"x": "42", "method": "GET", "uri": "api.lua"}
    r = requests.get(web.url + "/cgi.lua?a=b")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain") and r.text == "plain a=b"
    r = requests.get(web.url + "/bare.lua")
    assert r.headers["content-type"].startswith("text/html") and r.text == "<p>no header</p>"


def test_lp_include_and_redirect(web):
    assert requests.get(web.url + "/sum.lp").text == "<html>3|123|]]</html>\n"
    assert requests.get(web.url + "/outer.lua").text == "outer inner"
    r = requests.get(web.url + "/jump.lua")
    assert r.status_code == 200 and r.text == "hello\n"


def test_a_broken_page_is_a_500_and_the_server_goes_on(web):
    r = requests.get(web.url + "/broken.lua")
    assert r.status_code == 500 and "this page is broken" in r.text
    assert requests.get(web.url + "/hello.txt").status_code == 200


def test_form_upload(web):
    r = requests.post(web.url + "/upload.lua", data={"name": "n1"}, files={"file": ("a.dcm", b"x" * 1000)})
    assert r.status_code == 200 and r.text == "n1:a.dcm:1000"


def test_newweb_cgi_emulation(web):
    r = requests.get(web.url + "/app/newweb/dgate.exe?mode=listthings&x=1&study=PAT1:1.2.3")
    assert r.status_code == 200, r.text
    assert r.headers["x-mode"] == "listthings" and r.headers["content-type"].startswith("text/html")
    lines = r.text.split("\r\n")
    assert lines[0] == "mode=listthings" and lines[1] == "x=1 y=dflt"
    assert "port=5999" in lines and "viewer=wadoseriesviewer" in lines and "ae=CONQUESTSRV1" in lines
    assert "dgate.exe ladle=1 1.5.0e" in lines and "patid=PAT1 studyuid=1.2.3" in lines
    r = requests.get(web.url + "/app/newweb/dgate.exe?mode=nosuchpage")
    assert r.status_code == 404 and "nosuchpage.lua" in r.text
    assert requests.get(web.url + "/app/newweb/dgate.exe").status_code == 404
    r = requests.get(web.url + "/app/newweb/", allow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/app/newweb/dgate.exe?mode=start"
    r = requests.get(web.url + "/app/newweb/?mode=listthings&x=2")        # newweb's own "View" links
    assert r.status_code == 200 and r.headers["x-mode"] == "listthings" and "x=2 y=dflt" in r.text
    r = requests.post(web.url + "/app/newweb/dgate.exe", data={"mode": "start", "parameter": "posted"})
    assert r.status_code == 200 and r.text.strip() == "start page, parameter=posted", r.text   # a form's mode


def test_newweb_html_takes_nil_and_a_header_without_content_type(web):
    """Ladle's ``HTML`` passes nil arguments as '' (Conquest's start.lua writes its icon with
    ``Global.WebCodeBase``, which a server's dicom.ini need not have); a page that writes a
    header without ``Content-type`` is answered without one, as Ladle sends it."""
    r = requests.get(web.url + "/app/newweb/dgate.exe?mode=icon")
    assert r.status_code == 200 and r.text == "<IMG SRC='conquest.jpg'> |7\r\n", r.text
    r = requests.get(web.url + "/app/newweb/dgate.exe?mode=picture")
    assert r.status_code == 200 and r.content == b"GIF89a" and "content-type" not in r.headers, r.headers


@pytest.mark.parametrize("url", ["/app/newweb/dgate.exe?mode=../../secret", "/app/newweb/dgate.exe?mode=..%2Fsecret",
                                 "/app/newweb/dgate.exe?mode=/etc/passwd", "/%2e%2e/secret.lua",
                                 "/inc/%2e%2e/%2e%2e/secret.lua"])
def test_names_never_leave_the_web_folder(web, url):
    import socket
    port = int(web.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert 400 <= int(reply.split(b" ", 2)[1]) < 500, reply[:200]
    assert reply.split(b"\r\n\r\n", 1)[1] != b"secret"


@pytest.mark.parametrize("parameter", ["servercommand", "serverpage", "ServerCommand"])
def test_server_command_pass_through_is_off_by_default(web, parameter):
    """``WebServerCommands = 0`` (default): newweb's servercommand/serverpage APIs are refused
    before the page runs, in the query or as a POSTed form field; other parameters run."""
    url = web.url + "/app/newweb/dgate.exe?mode=start"
    r = requests.get(url + f"&parameter={parameter}&command=display_status:")
    assert r.status_code == 403 and "WebServerCommands" in r.text
    r = requests.post(url, data={"parameter": parameter, "command": "display_status:"})
    assert r.status_code == 403 and "WebServerCommands" in r.text
    r = requests.get(url + "&parameter=test")
    assert r.status_code == 200 and "start page, parameter=test" in r.text


def test_server_command_pass_through_when_allowed(tmp_path):
    server = WebServer(tmp_path, TCPPort="5999", WebServerCommands="1")
    try:
        page = tmp_path / "webserver" / "htdocs" / "app" / "newweb" / "start.lua"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(PAGES["app/newweb/start.lua"])
        r = requests.get(server.url + "/app/newweb/dgate.exe?mode=start&parameter=servercommand")
        assert r.status_code == 200 and "start page, parameter=servercommand" in r.text
        r = requests.post(server.url + "/app/newweb/dgate.exe?mode=start", data={"parameter": "serverpage"})
        assert r.status_code == 200 and "start page, parameter=serverpage" in r.text
    finally:
        server.stop()


def test_a_page_can_register_routes_for_itself(web):
    """Ladle runs ``routes:execute(method, orguri)`` after every page: a GET route of the
    page runs after its body; the POST one does not for a GET."""
    r = requests.get(web.url + "/routed.lua?x=7")
    assert r.status_code == 200 and r.text == "page route x=7", r.text


def test_io_write_and_both_json_call_forms(web):
    """Conquest's pages answer with ``io.write`` and call ``JSON:encode``/``JSON.encode`` (rquery.lua)."""
    r = requests.get(web.url + "/json.lua")
    assert r.status_code == 200, r.text
    assert r.text == '{"a": 1}|{"b": 2}|34'
