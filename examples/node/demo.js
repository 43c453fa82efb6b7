// pgeventstore from Node.js: two bank tellers withdraw from one account at once.
//
// Both load the account, both decide, both append with the version they loaded as the
// expected version. The database lets one in and refuses the other with ES409; the loser
// reads the events it missed (the error's DETAIL says how far the stream has moved),
// decides again on the new balance and appends after the actual version. Then the
// account is read back, and a follower reads the global log from a cursor, page by page,
// later resumes from the cursor it returned, and is refused a cursor the log diverged from.
//
// Run: npm ci && node demo.js, with libpq's variables (PGHOST, PGPORT, PGUSER, PGDATABASE,
// PGPASSWORD) or a URL in DATABASE_URL naming a database where the store is installed.

import { randomUUID } from "node:crypto";
import pg from "pg";
import {
  appendToStream,
  follow,
  InvalidArgument,
  LogDiverged,
  NO_STREAM,
  readAll,
  readStream,
  WrongExpectedVersion,
} from "./eventstore.js";

const MAX_ATTEMPTS = 5;

function balanceOf(events) {
  let balance = 0;
  for (const event of events) {
    if (event.type === "Deposited") balance += event.data.amount;
    if (event.type === "Withdrawn") balance -= event.data.amount;
  }
  return balance;
}

// `seen` are the account's events as the teller loaded them, so the teller's expected
// version is the last one's. A conflict is not an error to report but news: the teller
// catches up and decides again, since the other writer may have made the withdrawal
// impossible.
async function withdraw(client, teller, account, seen, amount) {
  let events = seen;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    const expected = events.length - 1;
    if (balanceOf(events) < amount) {
      console.log(`${teller}: refused to withdraw ${amount}: balance ${balanceOf(events)}`);
      return null;
    }
    try {
      const version = await appendToStream(client, account, expected, [
        { type: "Withdrawn", data: { amount, teller } },
      ]);
      console.log(`${teller}: withdrew ${amount} at expected version ${expected}: stream version ${version}`);
      return version;
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion)) throw error;
      console.log(
        `${teller}: conflict ${error.sqlstate} on ${error.streamId}:` +
          ` expected version ${error.expectedVersion}, actual version ${error.actualVersion}`,
      );
      // actualVersion is null only inside a REPEATABLE READ or SERIALIZABLE transaction
      // (this client runs none): then read to the end of the stream instead.
      const missed = await readStream(client, account, {
        fromVersion: expected + 1,
        maxCount: error.actualVersion === null ? 1000 : error.actualVersion - expected,
      });
      events = [...events, ...missed];
      console.log(`${teller}: read ${missed.length} missed event(s): balance ${balanceOf(events)}`);
    }
  }
  throw new Error(`${teller}: gave up after ${MAX_ATTEMPTS} conflicts on ${account}`);
}

function printLogEvent(event) {
  console.log(`log ${event.logNumber} ${event.streamId} v${event.version} ${event.type}`);
}

async function main() {
  const run = randomUUID().slice(0, 8);
  const account = `account-${run}`;
  const tellerA = new pg.Client({ connectionString: process.env.DATABASE_URL });
  const tellerB = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await tellerA.connect();
  await tellerB.connect();
  try {
    const opened = await appendToStream(tellerA, account, NO_STREAM, [
      { type: "Opened", data: { owner: "Ada" } },
      { type: "Deposited", data: { amount: 100 } },
    ]);
    console.log(`opened ${account}: stream version ${opened}`);

    const seenByA = await readStream(tellerA, account);
    const seenByB = await readStream(tellerB, account);
    console.log(`both tellers loaded version ${seenByA.length - 1}: balance ${balanceOf(seenByA)}`);
    await withdraw(tellerA, "teller-a", account, seenByA, 70);
    await withdraw(tellerB, "teller-b", account, seenByB, 20);
    await withdraw(tellerB, "teller-b", account, await readStream(tellerB, account), 50);

    try {
      await readStream(tellerA, account, { maxCount: 0 });
    } catch (error) {
      if (!(error instanceof InvalidArgument)) throw error;
      console.log(`invalid argument ${error.sqlstate}: ${error.message}`);
    }

    for (const event of await readStream(tellerA, account)) {
      console.log(`read ${event.streamId} v${event.version} ${event.type} ${JSON.stringify(event.data)}`);
    }

    let cursor = await follow(tellerA, { pageSize: 2, handle: printLogEvent });
    console.log(`caught up at log number ${cursor.after}`);
    await appendToStream(tellerB, `audit-${run}`, NO_STREAM, [{ type: "Audited", data: { account } }]);
    cursor = await follow(tellerA, { cursor, pageSize: 2, handle: printLogEvent });
    console.log(`caught up at log number ${cursor.after}`);

    // A cursor that remembers another event at its number than the log has there, as one
    // kept from before a failover that lost commits would.
    try {
      await readAll(tellerA, { after: cursor.after, afterEventId: randomUUID() });
    } catch (error) {
      if (!(error instanceof LogDiverged)) throw error;
      console.log(`log diverged ${error.sqlstate} at log number ${error.logNumber}: it holds ${error.actualEventId}`);
    }
  } finally {
    await tellerA.end();
    await tellerB.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
