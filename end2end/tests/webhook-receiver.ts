// A webhook receiver for the journeys: records every delivery and checks its Standard Webhooks
// signature with the endpoint's secret.
import * as crypto from "node:crypto";
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface Delivery {
  id: string;
  type: string;
  signatureValid: boolean;
  payload: any;
}

export class WebhookReceiver {
  deliveries: Delivery[] = [];
  secret = "";
  private server?: http.Server;

  async start(): Promise<string> {
    this.server = http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        const id = String(request.headers["webhook-id"]);
        const timestamp = String(request.headers["webhook-timestamp"]);
        const key = Buffer.from(this.secret.replace(/^whsec_/, ""), "base64");
        const expected = "v1," + crypto.createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
        const payload = JSON.parse(body);
        this.deliveries.push({ id, type: payload.type, signatureValid: request.headers["webhook-signature"] === expected, payload });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hook`;
  }

  types(): string[] {
    return this.deliveries.map((d) => d.type).sort();
  }

  close() {
    this.server?.close();
  }
}
