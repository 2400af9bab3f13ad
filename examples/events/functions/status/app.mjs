// Report a service's status: read it from DynamoDB when STATUS_TABLE is set,
// otherwise answer with the request the function would send.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";

const table = process.env.STATUS_TABLE;
const client = table ? DynamoDBDocumentClient.from(new DynamoDBClient({})) : null;

export const handler = async (event) => {
  const service = event?.pathParameters?.service ?? "api";
  const command = new GetCommand({ TableName: table ?? "status", Key: { service } });
  if (!client) {
    return { statusCode: 200, body: JSON.stringify({ service, dryRun: true, request: command.input }) };
  }
  const { Item } = await client.send(command);
  return { statusCode: Item ? 200 : 404, body: JSON.stringify(Item ?? { service, status: "unknown" }) };
};
