use crate::support::Server;

#[test]
fn healthz_answers_ok_over_raw_http() {
    let server = Server::start(&[]);
    let response = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.text(), "ok\n");
}
