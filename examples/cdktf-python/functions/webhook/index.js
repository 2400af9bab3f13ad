"use strict";
// Accept a webhook delivery: parse its JSON body and answer 202 with a fresh id.
const { v4: uuidv4, validate } = require("uuid");

exports.handler = async (event) => {
  let payload;
  try {
    payload = JSON.parse(event.body || "{}");
  } catch (err) {
    return { statusCode: 400, body: JSON.stringify({ error: `invalid JSON: ${err.message}` }) };
  }
  const id = uuidv4();
  return {
    statusCode: 202,
    body: JSON.stringify({ id, valid: validate(id), type: payload.type || "unknown" }),
  };
};
