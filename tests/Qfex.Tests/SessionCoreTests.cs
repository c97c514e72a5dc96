using System;
using System.Linq;
using System.Threading.Tasks;
using Qfex.Protocol;
using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// The I/O-free session core on its own: no sockets, no clock, no threads. Request outcomes, numbering,
    /// answers and claims, state transitions.
    /// </summary>
    public class SessionCoreTests
    {
        private static readonly DateTime T0 = new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);

        private static SessionCore OpenCore(int capacity = 100)
        {
            var core = new SessionCore(7, new Uri("ws://127.0.0.1:1/"), QfexEndpoint.Trade, capacity, () => T0);
            int generation = core.BeginLink();
            Assert.True(core.TryOpen(generation));
            return core;
        }

        private static FrameContent Frame(string json) => Content(json);

        private static FrameContent Content(string json)
        {
            var into = new System.Collections.Generic.List<FrameContent>();
            FrameReader.ReadText(System.Text.Encoding.UTF8.GetBytes(json), into);
            return Assert.Single(into);
        }

        private static RequestTicket Ticket(string type = "add_order", bool wait = false) =>
            new RequestTicket(type, "{\"type\":\"" + type + "\",\"params\":{}}", wait ? f => f.Type == "order_response" : null);

        [Fact]
        public void ARequestIsNotAdmittedUnlessTheSessionIsOpenAndIsThenNeverWritten()
        {
            var core = new SessionCore(1, new Uri("ws://127.0.0.1:1/"), QfexEndpoint.Trade, 10, () => T0);
            RequestTicket ticket = Ticket();
            var error = Assert.Throws<QfexConnectionException>(() => core.Admit(ticket));
            Assert.Equal(QfexRequestOutcome.NotSent, error.RequestOutcome);
            Assert.Contains("still connecting", error.Message);

            // The connection opens a moment later: the refused request still cannot be written.
            int generation = core.BeginLink();
            Assert.True(core.TryOpen(generation));
            Assert.False(core.BeginWrite(ticket, generation));
        }

        [Fact]
        public void TheReconnectRaceCannotWriteARequestAlreadyReportedNotSent()
        {
            // Issue 17: a -Wait told "not sent" while the session was Reconnecting must never be written once
            // the reconnect has finished. The admission and the write are decided under one lock.
            SessionCore core = OpenCore();
            Assert.Equal(LinkLoss.Reconnect, core.LinkLost(core.Generation, "dropped", mayReconnect: true));
            RequestTicket ticket = Ticket(wait: true);
            var error = Assert.Throws<QfexConnectionException>(() => core.Admit(ticket));
            Assert.Equal(QfexRequestOutcome.NotSent, error.RequestOutcome);
            Assert.Contains("reconnecting", error.Message);

            int generation = core.BeginLink();
            Assert.True(core.TryOpen(generation));
            Assert.Equal(QfexSessionState.Open, core.State);
            Assert.False(core.BeginWrite(ticket, generation));
        }

        [Fact]
        public void ADropBeforeTheWriteMeansNotSentAndTheWriteThatFollowsIsRefused()
        {
            SessionCore core = OpenCore();
            int first = core.Generation;
            RequestTicket ticket = Ticket(wait: true);
            core.Admit(ticket);   // waiting for rate-limit room, say
            Assert.Equal(LinkLoss.Reconnect, core.LinkLost(first, "reset by peer", mayReconnect: true));

            var failure = Assert.IsType<QfexConnectionException>(Assert.Throws<AggregateException>(() => ticket.AnswerTask!.Wait()).InnerException);
            Assert.Equal(QfexRequestOutcome.NotSent, failure.RequestOutcome);
            Assert.Contains("not sent", failure.Message);
            Assert.Contains("reset by peer", failure.Message);

            int second = core.BeginLink();
            Assert.True(core.TryOpen(second));
            Assert.False(core.BeginWrite(ticket, first));
            Assert.False(core.BeginWrite(ticket, second));
            Assert.Same(failure, ticket.Failure);
        }

        [Fact]
        public void ADropAfterTheWriteBeganMeansOutcomeUnknown()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket(wait: true);
            core.Admit(ticket);
            Assert.True(core.BeginWrite(ticket, core.Generation));
            core.LinkLost(core.Generation, "reset by peer", mayReconnect: true);

            var failure = Assert.IsType<QfexConnectionException>(Assert.Throws<AggregateException>(() => ticket.AnswerTask!.Wait()).InnerException);
            Assert.Equal(QfexRequestOutcome.SentOutcomeUnknown, failure.RequestOutcome);
            Assert.Contains("may or may not have reached the exchange", failure.Message);
            Assert.Equal("add_order", failure.RequestType);
        }

        [Fact]
        public void AFailedWriteMeansOutcomeUnknown()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket();
            core.Admit(ticket);
            Assert.True(core.BeginWrite(ticket, core.Generation));
            QfexException failure = core.WriteFailed(ticket, "Connection reset by peer", new System.IO.IOException("reset"));
            Assert.Equal(QfexRequestOutcome.SentOutcomeUnknown, failure.RequestOutcome);
            Assert.Equal("QfexConnectionClosed", failure.ErrorId);
        }

        [Fact]
        public void ARequestAdmittedForAReplacedConnectionIsNotSentOnTheNewOne()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket();
            core.Admit(ticket);
            int admittedFor = ticket.Generation;
            core.LinkLost(admittedFor, "dropped", mayReconnect: true);
            int next = core.BeginLink();
            core.TryOpen(next);
            Assert.False(core.BeginWrite(ticket, next));
            Assert.Equal(QfexRequestOutcome.NotSent, ticket.Failure!.RequestOutcome);
        }

        [Fact]
        public void AWrittenRequestWithoutAnAnswerToAwaitIsUnaffectedByALaterDrop()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket();
            core.Admit(ticket);
            Assert.True(core.BeginWrite(ticket, core.Generation));
            core.EndWrite(ticket);
            core.LinkLost(core.Generation, "dropped", mayReconnect: true);
            Assert.Null(ticket.Failure);
            Assert.Equal(RequestPhase.Done, ticket.Phase);
        }

        [Fact]
        public async Task AnAnswerGoesToItsWaiterAndOtherFramesAreBufferedInOrder()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket(wait: true);
            core.Admit(ticket);
            Assert.True(core.BeginWrite(ticket, core.Generation));
            core.EndWrite(ticket);

            await core.DeliverAsync(Frame("{\"type\":\"tick\",\"i\":1}"), T0);
            await core.DeliverAsync(Frame("{\"order_response\":{\"status\":\"ACK\"}}"), T0);
            await core.DeliverAsync(Frame("{\"type\":\"tick\",\"i\":2}"), T0);

            QfexFrame answer = await ticket.AnswerTask!;
            Assert.Equal(2, answer.Sequence);
            var rest = new System.Collections.Generic.List<QfexFrame>();
            core.Buffer.TryTakeMany(null, 10, rest);
            Assert.Equal(new long[] { 1, 3 }, rest.Select(f => f.Sequence));
        }

        [Fact]
        public async Task AClaimTakesItsFrameBeforeItIsNumbered()
        {
            SessionCore core = OpenCore();
            Waiter<FrameContent> claim = core.Claims.Add(c => c.Type == "authenticated");
            await core.DeliverAsync(Frame("{\"authenticated\":true}"), T0);
            await core.DeliverAsync(Frame("{\"type\":\"tick\"}"), T0);
            Assert.Equal("authenticated", (await claim.Task).Type);
            Assert.Equal(1, core.FramesReceived);
        }

        [Fact]
        public async Task AnAnswerMatchedAsTheCallerStopsIsHandedBackNotLost()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket(wait: true);
            core.Admit(ticket);
            Assert.True(core.BeginWrite(ticket, core.Generation));
            core.EndWrite(ticket);
            await core.DeliverAsync(Frame("{\"order_response\":{\"status\":\"ACK\"}}"), T0);
            Assert.True(core.Finish(ticket, out QfexFrame? answer));
            Assert.Equal("order_response", answer!.Type);
        }

        [Fact]
        public void StoppingBeforeTheWriteMeansNotSent()
        {
            SessionCore core = OpenCore();
            RequestTicket ticket = Ticket(wait: true);
            core.Admit(ticket);
            Assert.False(core.Finish(ticket, out _));
            Assert.Equal(QfexRequestOutcome.NotSent, ticket.Failure!.RequestOutcome);
            Assert.False(core.BeginWrite(ticket, core.Generation));
        }

        [Fact]
        public void TheLossOfAnOldConnectionChangesNothing()
        {
            SessionCore core = OpenCore();
            int old = core.Generation;
            core.LinkLost(old, "dropped", mayReconnect: true);
            int current = core.BeginLink();
            core.TryOpen(current);
            Assert.Equal(LinkLoss.Ignored, core.LinkLost(old, "late report of the old drop", mayReconnect: true));
            Assert.Equal(QfexSessionState.Open, core.State);
        }

        [Fact]
        public async Task ADropWithoutReconnectClosesAndEndsTheBufferKeepingItsFrames()
        {
            SessionCore core = OpenCore();
            await core.DeliverAsync(Frame("{\"type\":\"tick\"}"), T0);
            Assert.Equal(LinkLoss.Closed, core.LinkLost(core.Generation, "The server closed the connection.", mayReconnect: false));
            Assert.Equal(QfexSessionState.Closed, core.State);
            Assert.Equal("The server closed the connection.", core.CloseReason);
            Assert.True(core.Buffer.IsCompleted);
            Assert.Equal(1, core.Buffer.Count);
        }

        [Fact]
        public async Task TheReconnectNoticeIsNumberedInSequenceAndCountsTheReconnect()
        {
            SessionCore core = OpenCore();
            await core.DeliverAsync(Frame("{\"type\":\"tick\"}"), T0);
            core.LinkLost(core.Generation, "dropped", mayReconnect: true);
            Assert.Equal(0, core.Reconnects);
            int reconnectsWhenOpen = -1;
            Assert.True(core.TryReopen(core.BeginLink(), "dropped", true, () => reconnectsWhenOpen = core.Reconnects));
            Assert.Equal(1, reconnectsWhenOpen);   // counted with the state change, not later
            var frames = new System.Collections.Generic.List<QfexFrame>();
            core.Buffer.TryTakeMany(null, 10, frames);
            Assert.Equal(new[] { "tick", SessionCore.ReconnectedType }, frames.Select(f => f.Type));
            Assert.Equal(2, frames[1].Sequence);
            Assert.Equal(1, core.Reconnects);
            Assert.Contains("\"cancel_on_disconnect\":true", frames[1].Raw);
            Assert.False(core.TryReopen(core.Generation, "again", false));   // already open: nothing delivered
            Assert.Equal(0, core.Buffer.Count);
        }

        [Fact]
        public async Task FramesStagedBeforeAReopenComeBeforeItsNoticeAndFramesAfterItComeAfter()
        {
            // The notice is numbered in the same step that opens the session: a frame the new connection staged
            // before is flushed first, and one it receives once State reads Open is numbered after the notice.
            SessionCore core = OpenCore();
            core.LinkLost(core.Generation, "dropped", mayReconnect: true);
            int link = core.BeginLink();
            await core.DeliverAsync(Frame("{\"type\":\"before\"}"), T0, stage: true);
            Assert.Equal(0, core.Buffer.Count);                 // staged, not yet in the buffer
            Assert.True(core.TryReopen(link, "dropped", false, () => Assert.Equal(QfexSessionState.Open, core.State)));
            await core.DeliverAsync(Frame("{\"type\":\"after\"}"), T0, stage: true);
            core.FlushStaged();
            var frames = new System.Collections.Generic.List<QfexFrame>();
            core.Buffer.TryTakeMany(null, 10, frames);
            Assert.Equal(new[] { "before", SessionCore.ReconnectedType, "after" }, frames.Select(f => f.Type));
            Assert.Equal(new long[] { 1, 2, 3 }, frames.Select(f => f.Sequence));
        }
    }
}
