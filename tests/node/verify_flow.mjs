// The Verify flow through the official twilio-node client against our /v2, as a black box.
//
//   node tests/node/verify_flow.mjs <base_url> <account_sid> <api_key>
//
// The client is built as an application builds it, then its Verify domain is pointed at base_url:
//
//   client.verify.baseUrl = baseUrl;  // the one line an application changes
//
// (client.verify is created once and cached on the client; every Verify request builds its URL from
// that domain's baseUrl at request time, so the assignment holds for all of client.verify.v2.)
// Codes are read from the development outbox (GET <base_url>/dev/outbox, newest first).
// Prints one JSON line, {"ok": true, "steps": [...]}; on any mismatch {"ok": false, ...} and exit 1.
import twilio from "twilio";

const TO = "+14155550177";
const CODE = /\b(\d{4,10})\b/;

const [baseUrl, accountSid, apiKey] = process.argv.slice(2);
if (!baseUrl || !accountSid || !apiKey) {
  console.error("usage: node tests/node/verify_flow.mjs <base_url> <account_sid> <api_key>");
  process.exit(2);
}
// An edge or region rewrites every hostname (127.0.0.1 would become 127.<edge>.<region>.0.1).
delete process.env.TWILIO_EDGE;
delete process.env.TWILIO_REGION;

const steps = [];

class Mismatch extends Error {}

function expect(condition, what, seen) {
  if (!condition) throw new Mismatch(`${what}; saw ${JSON.stringify(seen)}`);
}

async function outboxCode(to) {
  const response = await fetch(`${baseUrl.replace(/\/+$/, "")}/dev/outbox`);
  expect(response.ok, "GET /dev/outbox answers 200", response.status);
  const { sends } = await response.json();
  const send = (sends || []).find((s) => s.to === to && typeof s.body === "string");
  expect(send, `an SMS to ${to} in the outbox`, sends);
  const match = CODE.exec(send.body);
  expect(match, "a code in the SMS body", send.body);
  return match[1];
}

async function restError(what, call, code, status) {
  let error;
  try {
    const result = await call();
    throw new Mismatch(`${what}: expected RestException ${code}/${status}, got a result ${JSON.stringify(result)}`);
  } catch (caught) {
    if (caught instanceof Mismatch) throw caught;
    error = caught;
  }
  const seen = { name: error?.constructor?.name, code: error?.code, status: error?.status, message: error?.message };
  expect(error instanceof twilio.RestException, `${what}: a twilio.RestException`, seen);
  expect(error.code === code && error.status === status, `${what}: code ${code} and status ${status}`, seen);
  steps.push({ step: what, code: error.code, status: error.status, moreInfo: error.moreInfo });
}

async function flow() {
  const client = twilio(accountSid, apiKey, { timeout: 15000 });
  client.verify.baseUrl = baseUrl; // the one line an application changes

  const service = await client.verify.v2.services.create({ friendlyName: "Node" });
  expect(/^VA[0-9a-f]{32}$/.test(service.sid), "a VA service sid", service.sid);
  expect(service.friendlyName === "Node", "friendlyName Node", service.friendlyName);
  expect(service.dateCreated instanceof Date, "service dateCreated parsed to a Date", service.dateCreated);
  steps.push({ step: "create service", sid: service.sid, friendlyName: service.friendlyName });

  const listed = await client.verify.v2.services.list();
  expect(listed.some((s) => s.sid === service.sid), "the service in services.list()", listed.map((s) => s.sid));
  steps.push({ step: "list services", count: listed.length });

  const verifications = client.verify.v2.services(service.sid).verifications;
  const checks = client.verify.v2.services(service.sid).verificationChecks;

  const started = await verifications.create({ to: TO, channel: "sms" });
  expect(/^VE[0-9a-f]{32}$/.test(started.sid), "a VE verification sid", started.sid);
  expect(started.status === "pending" && started.channel === "sms" && started.to === TO,
    "pending sms to the number", { status: started.status, channel: started.channel, to: started.to });
  expect(started.serviceSid === service.sid, "serviceSid", started.serviceSid);
  expect(Array.isArray(started.sendCodeAttempts) && started.sendCodeAttempts.length === 1,
    "one send code attempt", started.sendCodeAttempts);
  expect(started.dateCreated instanceof Date, "verification dateCreated parsed to a Date", started.dateCreated);
  expect(started.valid === false, "valid false while pending", started.valid);
  steps.push({ step: "start", sid: started.sid, status: started.status, channel: started.channel });

  const code = await outboxCode(TO);
  steps.push({ step: "read code", length: code.length });

  const wrongCode = code === "000000" ? "111111" : "000000";
  const wrong = await checks.create({ to: TO, code: wrongCode });
  expect(wrong.status === "pending" && wrong.valid === false, "a wrong code: pending, valid false",
    { status: wrong.status, valid: wrong.valid });
  steps.push({ step: "wrong check", status: wrong.status, valid: wrong.valid });

  const again = await verifications.create({ to: TO, channel: "sms" });
  expect(again.sid === started.sid, "a repeat start keeps the sid", again.sid);
  expect(again.sendCodeAttempts.length === 2, "two send code attempts", again.sendCodeAttempts);
  const codeAgain = await outboxCode(TO);
  steps.push({ step: "repeat start", sid: again.sid, attempts: again.sendCodeAttempts.length, sameCode: codeAgain === code });

  const fetched = await verifications(started.sid).fetch();
  expect(fetched.sid === started.sid && fetched.status === "pending", "fetch by sid: the pending verification",
    { sid: fetched.sid, status: fetched.status });
  steps.push({ step: "fetch", sid: fetched.sid, status: fetched.status });

  const right = await checks.create({ verificationSid: started.sid, code: codeAgain });
  expect(right.status === "approved" && right.valid === true, "the right code: approved, valid true",
    { status: right.status, valid: right.valid });
  expect(right.sid === started.sid, "the check names the verification", right.sid);
  steps.push({ step: "right check", status: right.status, valid: right.valid });

  await restError("check after approval", () => checks.create({ to: TO, code: codeAgain }), 20404, 404);
  await restError("invalid To", () => verifications.create({ to: "not a number", channel: "sms" }), 60200, 400);
  await restError("whatsapp channel", () => verifications.create({ to: TO, channel: "whatsapp" }), 60223, 400);
}

try {
  await flow();
  console.log(JSON.stringify({ ok: true, steps }));
  process.exit(0);
} catch (error) {
  const message = error instanceof Mismatch
    ? error.message
    : `unexpected ${error?.constructor?.name} (code ${error?.code}, status ${error?.status}): ${error?.message}`;
  console.log(JSON.stringify({ ok: false, error: message, steps }));
  console.error(`verify_flow.mjs: ${message}`);
  process.exit(1);
}
