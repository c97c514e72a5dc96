using System;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Transport
{
    internal static class TaskExtensions
    {
        /// <summary>Waits for a task or the token, whichever comes first (Task.WaitAsync is .NET 6+ only).</summary>
        internal static async Task<T> WaitAsync<T>(this Task<T> task, CancellationToken token)
        {
            if (!task.IsCompleted && token.CanBeCanceled)
            {
                var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                using (token.Register(() => cancelled.TrySetResult(true)))
                    if (await Task.WhenAny(task, cancelled.Task).ConfigureAwait(false) != task)
                        throw new OperationCanceledException(token);
            }
            return await task.ConfigureAwait(false);
        }
    }
}
