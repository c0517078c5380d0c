// Local https for the journeys that need it: a self-signed certificate for 127.0.0.1 and
// localhost (made with openssl), TLS reverse proxies in front of plain-http servers, and a
// static https page (a console that frames the portal).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";

export interface Certificate {
  key: Buffer;
  cert: Buffer;
}

/** A throwaway certificate valid for https://127.0.0.1 and https://localhost. */
export function testCertificate(): Certificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-tls-"));
  const key = path.join(dir, "key.pem");
  const cert = path.join(dir, "cert.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=backplane-e2e",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  const pair = { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
  fs.rmSync(dir, { recursive: true, force: true });
  return pair;
}

/** https on `port` forwarding every request, as it came, to http://127.0.0.1:`target`. */
export function tlsProxy(certificate: Certificate, port: number, target: number): Promise<https.Server> {
  const server = https.createServer(certificate, (request, response) => {
    const upstream = http.request(
      { host: "127.0.0.1", port: target, path: request.url, method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
  // Live updates are a WebSocket: pass the upgrade through as raw bytes.
  server.on("upgrade", (request, socket, head) => {
    const upstream = http.request({
      host: "127.0.0.1", port: target, path: request.url, method: request.method, headers: request.headers,
    });
    upstream.on("upgrade", (answer, upstreamSocket, upstreamHead) => {
      const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
      socket.write(lines.join("\r\n") + "\r\n\r\n");
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstreamSocket.write(head);
      upstreamSocket.pipe(socket).pipe(upstreamSocket);
    });
    upstream.on("error", () => socket.destroy());
    upstream.end();
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

/** https on `port` answering every request with `html`. */
export function tlsPage(certificate: Certificate, port: number, html: string): Promise<https.Server> {
  const server = https.createServer(certificate, (_request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(html);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}
