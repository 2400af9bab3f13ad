// Record an order: write it to DynamoDB when ORDERS_TABLE is set, otherwise answer with
// the request the function would send. Bundled with uuid; the AWS SDK is the runtime's.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { v5 as uuidv5 } from "uuid";

import { total, type Line } from "./lines.js";

interface OrderEvent {
  customer: string;
  lines: Line[];
}

const ORDERS = "0b1f1c4e-5a57-4c8e-9a43-6d1f8f0c2a11"; // the namespace of order ids
const table = process.env.ORDERS_TABLE;
const client = table ? DynamoDBDocumentClient.from(new DynamoDBClient({})) : null;

export const handler = async (event: OrderEvent) => {
  const id = uuidv5(`${event.customer}:${JSON.stringify(event.lines)}`, ORDERS);
  const command = new PutCommand({
    TableName: table ?? "orders",
    Item: { id, customer: event.customer, total: total(event.lines) },
  });
  if (!client) {
    return { statusCode: 200, body: JSON.stringify({ dryRun: true, request: command.input }) };
  }
  await client.send(command);
  return { statusCode: 201, body: JSON.stringify({ id }) };
};
