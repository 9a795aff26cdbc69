/* Error numbers (Linux values), returned negated by module functions. */
#ifndef XEN_ERRNO_H
#define XEN_ERRNO_H

#define EPERM       1   /* frame owned by another domain */
#define ENOENT      2
#define ENXIO       6   /* frame lies in a hole of machine memory */
#define E2BIG       7
#define EAGAIN     11
#define ENOMEM     12
#define EFAULT     14   /* frame number beyond the top of machine memory */
#define EBUSY      16   /* frame already mapped at another gfn */
#define EEXIST     17
#define EINVAL     22   /* misaligned frame number for the order */
#define ENOSPC     28
#define EDOM       33   /* order other than 0, 9 or 18 */
#define ERANGE     34   /* gfn outside the guest-physical address space */
#define EDEADLK    35
#define ENOSYS     38
#define EBADR      53   /* unknown P2M type or access */
#define ERESTART   85   /* stopped at a preemption point: call again */
#define EOPNOTSUPP 95   /* leaf larger than the hardware takes */
#define ESRCH       3   /* no such domain */
#define ECANCELED 125

#endif /* XEN_ERRNO_H */
