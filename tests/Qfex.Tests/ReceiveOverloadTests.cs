using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Every fault-injection test again with the receive loop on the ArraySegment overload of
    /// ReceiveAsync: the only one Windows PowerShell 5.1's runtime has (PowerShell 7 uses the Memory one).
    /// </summary>
    public sealed class FaultInjectionTestsOnTheArraySegmentReceive : FaultInjectionTests
    {
        // Only this class's runspace: the other test classes, running in parallel, keep the Memory overload.
        public FaultInjectionTestsOnTheArraySegmentReceive() =>
            Qfex.Commands.SessionOptionHooks.Set(Host.Runspace, options => options.ForceArraySegmentReceive = true);
    }

    public class SocketReceiverTests
    {
        [Fact]
        public void TheMemoryOverloadIsBoundOnThisRuntime()
        {
            // Otherwise every receive silently pays for a Task and a result object (still correct, slower).
            Assert.True(SocketReceiver.HasMemoryOverload);
        }
    }
}
