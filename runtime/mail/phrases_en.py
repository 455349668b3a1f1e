"""English phrases of the generated mail corpus (see ``runtime.mail.corpus``).

Placeholders are filled per mail: {name} {sender} {company} {amount} {invoice} {date} {order}
{product} {days} {ticket} {url} {month} {percent}.
"""

GREETINGS = [
    "Hi {name},", "Hello {name},", "Dear {name},", "Good morning,", "Hello team,",
    "Dear Sir or Madam,", "Hi there,", "Dear customer,", "Hey {name},", "To whom it may concern,",
]
CLOSINGS = [
    "Best regards,", "Kind regards,", "Thanks,", "Regards,", "Many thanks,", "Cheers,",
    "Sincerely,", "Thank you,", "All the best,", "Best,",
]
FILLER = [
    "I hope this email finds you well.",
    "Please let me know if you have any questions.",
    "I am out of the office on Friday.",
    "Hope you had a good weekend.",
    "Feel free to call me if that is easier.",
    "Sorry for the late reply.",
    "I have copied my colleague {sender} on this message.",
    "Thanks again for your help last week.",
]
DISCLAIMERS = [
    "This message and any attachments are confidential and intended solely for the addressee.",
    "Please consider the environment before printing this email.",
    "Sent from my phone.",
]
REPLY_PREFIXES = ["RE: ", "Re: ", "Fwd: ", "FW: "]

CLASSES = {
    "invoice": {
        "subjects": [
            "Invoice {invoice}", "Your invoice from {company}", "Invoice {invoice} for {month}",
            "New invoice available", "{company} - invoice {invoice}", "Billing statement {month}",
            "Invoice attached", "Your {company} bill is ready", "Invoice for order {order}",
            "Tax invoice {invoice}", "Monthly invoice - {company}", "Receipt and invoice {invoice}",
        ],
        "sentences": [
            "Please find attached invoice {invoice} for {amount}.",
            "Attached is our invoice for the services provided in {month}.",
            "The total amount due is {amount}, payable by {date}.",
            "Your invoice for order {order} is attached as a PDF.",
            "We have issued invoice {invoice} dated {date}.",
            "Payment terms are {days} days from the invoice date.",
            "The invoice covers {product} delivered on {date}.",
            "You can pay by bank transfer using the details on the invoice.",
            "Please forward this invoice to your accounts payable department.",
            "Here is the bill for your subscription to {product}.",
            "VAT is included in the amount of {amount}.",
            "Your monthly statement is now available, total {amount}.",
            "Kindly process the attached invoice at your earliest convenience.",
            "The invoice number is {invoice}; please quote it with your payment.",
            "Thank you for your purchase, the invoice for {amount} is enclosed.",
            "Our invoice for the {product} project is attached for your records.",
        ],
    },
    "reminder": {
        "subjects": [
            "Payment reminder: invoice {invoice}", "Overdue invoice {invoice}",
            "Second reminder - payment due", "Friendly reminder: {amount} outstanding",
            "Final notice: invoice {invoice}", "Your payment is overdue",
            "Reminder: invoice {invoice} due on {date}", "Outstanding balance on your account",
            "URGENT: unpaid invoice {invoice}", "Past due notice from {company}",
            "Payment not received", "Last reminder before collection",
        ],
        "sentences": [
            "Our records show that invoice {invoice} for {amount} is still unpaid.",
            "This is a friendly reminder that payment of {amount} was due on {date}.",
            "The invoice is now {days} days overdue.",
            "We have not yet received your payment for invoice {invoice}.",
            "Please settle the outstanding balance of {amount} as soon as possible.",
            "If you have already paid, please disregard this reminder.",
            "Late payment fees may apply if the amount is not paid by {date}.",
            "This is our second reminder regarding the overdue amount.",
            "Kindly arrange payment of the past due invoice within {days} days.",
            "Failure to pay may result in the suspension of your account.",
            "Could you confirm when we can expect the payment?",
            "The account will be passed to our collections team if unpaid.",
            "We sent invoice {invoice} on {date} and the due date has passed.",
            "Please send us the remittance advice once the transfer is made.",
            "Your balance of {amount} remains outstanding despite our previous notice.",
            "This is the final reminder before we take further action.",
        ],
    },
    "support": {
        "subjects": [
            "Problem with my order {order}", "Cannot log in to my account", "Help needed",
            "Question about {product}", "Request #{ticket}", "Issue with the app",
            "Refund request for order {order}", "Error when uploading files",
            "How do I change my password?", "Product not working", "Need assistance",
            "Wrong item received",
        ],
        "sentences": [
            "I cannot log in to my account since yesterday.",
            "The {product} I received is not working properly.",
            "Could you help me reset my password?",
            "I get an error message when I try to upload a file.",
            "My order {order} arrived damaged, what should I do?",
            "I would like to request a refund for order {order}.",
            "The app crashes every time I open the settings page.",
            "How can I change the email address on my account?",
            "I was charged twice for the same order.",
            "Can you tell me how to export my data?",
            "I received the wrong item in my package.",
            "The installation fails with error code {ticket}.",
            "Please help, I have been waiting for a reply for {days} days.",
            "Is there a way to cancel my subscription?",
            "The tracking link for my delivery does not work.",
            "I need help configuring {product} on my computer.",
        ],
    },
    "spam": {
        "subjects": [
            "You have won a {product}!", "Limited offer: {percent}% off today only",
            "Our {month} newsletter", "Congratulations, you are selected",
            "Last chance: big sale ends tonight", "Exclusive deal just for you",
            "Your account has been suspended - verify now", "Make money from home",
            "Weekly digest from {company}", "Free gift inside", "Don't miss out!",
            "Lose weight fast with this trick",
        ],
        "sentences": [
            "Click here to claim your free {product} now.",
            "Get {percent}% off all products this weekend only.",
            "You have been selected to receive an exclusive reward.",
            "To unsubscribe from this newsletter, click the link below.",
            "Verify your account immediately at {url} or it will be closed.",
            "Earn thousands of dollars per week working from home.",
            "This offer expires in 24 hours, act now!",
            "In this issue: our latest news, tips and product updates.",
            "Buy one, get one free on all {product} items.",
            "You are receiving this email because you subscribed to our mailing list.",
            "Congratulations! Your email address won our monthly prize draw.",
            "Discover the new collection at {url}.",
            "Limited stock available, order today and save big.",
            "Update your preferences or unsubscribe at any time.",
            "Invest now and double your money in {days} days.",
            "Follow us on social media for more deals.",
        ],
    },
    "other": {
        "subjects": [
            "Meeting on {date}", "Lunch tomorrow?", "Team update", "Out of office",
            "Agenda for Monday", "Project kickoff", "Holiday schedule", "Quick question",
            "Notes from today's call", "Welcome to the team", "Office closed on {date}",
            "Your package has shipped",
        ],
        "sentences": [
            "Can we move our meeting to {date}?",
            "Attached are the notes from today's call.",
            "I will be out of the office until {date} with limited access to email.",
            "Let's have lunch tomorrow at noon.",
            "Please review the agenda before Monday's meeting.",
            "Welcome {name}, we are happy to have you on the team.",
            "The office will be closed on {date} for the public holiday.",
            "Your package with {product} has shipped and will arrive soon.",
            "Here are the slides from the presentation.",
            "Could you share the latest version of the project plan?",
            "The team offsite is planned for {month}.",
            "Thanks for the great work on the {product} launch.",
            "I have booked the meeting room for Thursday afternoon.",
            "Please fill in the survey about the new office layout.",
            "The quarterly all-hands meeting will take place on {date}.",
            "Congratulations on your promotion, well deserved!",
        ],
    },
}
