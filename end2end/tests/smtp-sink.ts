// A minimal SMTP server for the specs: accepts every message and keeps it, headers unfolded.
import * as net from "node:net";

export class SmtpSink {
  readonly messages: string[] = [];
  private server = net.createServer((socket) => this.serve(socket));

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  close() {
    this.server.close();
  }

  private serve(socket: net.Socket) {
    let buffer = "";
    let data: string[] | undefined;
    socket.write("220 sink ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      let end: number;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === ".") {
            this.messages.push(data.join("\n").replace(/\n[ \t]+/g, " "));
            data = undefined;
            socket.write("250 queued\r\n");
          } else {
            data.push(line.startsWith(".") ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "DATA") {
          data = [];
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") {
          socket.end("221 bye\r\n");
        } else {
          socket.write(verb === "EHLO" || verb === "HELO" ? "250 sink\r\n" : "250 ok\r\n");
        }
      }
    });
    socket.on("error", () => {});
  }
}
